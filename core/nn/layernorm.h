// Layer normalisation over the last dimension: y = (x - mean) / sqrt(var + eps) * w + b
// (the layernorm op, core/ops/layernorm.h, on the device of the input).
#pragma once

#include "core/module.h"

namespace peer {

class LayerNorm : public Module {
 public:
  LayerNorm(const std::string& name, int64_t dim, float eps = 1e-5f);
  const Tensor& forward(const Tensor& x);    // (N, dim)
  const Tensor& backward(const Tensor& dy);  // -> dx (N, dim); dw, db +=
  void collect_parameters(std::vector<Parameter*>& out) override;

  Parameter weight, bias;  // (dim)

 private:
  float eps_;
  const Tensor* x_ = nullptr;
  Tensor y_, dx_;      // (N, dim), on the input's device
  Tensor mean_, rstd_;  // (N)
};

}  // namespace peer
