// BatchNorm over the rows of (N, F) (the op: core/ops/batchnorm.h): training normalises with the
// batch mean and biased variance and updates running statistics (momentum 0.1, unbiased
// variance, as PyTorch's BatchNorm1d); evaluation uses the running statistics. Running stats are
// buffers (saved, not trained).
#pragma once

#include "core/module.h"
#include "core/ops/batchnorm.h"

namespace peer {

class BatchNorm1d : public Module {
 public:
  BatchNorm1d(const std::string& name, int64_t features, float eps = 1e-5f, float momentum = 0.1f);
  const Tensor& forward(const Tensor& x, bool train);  // (N, F)
  const Tensor& backward(const Tensor& dy);             // training forward only
  void collect_parameters(std::vector<Parameter*>& out) override;

  Parameter weight, bias;                 // (F)
  Parameter running_mean, running_var;    // (F) buffers
  // Frozen statistics (lifelong streams): training also normalises with the running statistics
  // and leaves them as they are, so a frozen query network's output scale cannot drift.
  bool fixed_stats = false;

 private:
  BatchNormParams params();

  float eps_, momentum_;
  bool train_ = false;
  bool batch_stats_ = false;  // the last forward normalised with its batch's statistics
  Tensor xhat_, y_, dx_;  // (N, F), on the input's device
  Tensor rstd_;           // (F)
};

}  // namespace peer
