// Linear layer y = x W^T + b (core/ops/linear.h), on the device of its input and weights.
#pragma once

#include "core/module.h"
#include "core/nn/init.h"

namespace peer {

class Linear : public Module {
 public:
  Linear(const std::string& name, int64_t in, int64_t out, bool bias);
  void init(InitScheme s, uint64_t seed);

  const Tensor& forward(const Tensor& x);    // x (N, in) -> y (N, out); keeps a pointer to x
  const Tensor& backward(const Tensor& dy);  // dy (N, out) -> dx (N, in); dW, db +=
  void collect_parameters(std::vector<Parameter*>& out) override;

  Parameter weight;  // (out, in)
  Parameter bias;    // (out), empty when the layer has no bias

 private:
  int64_t in_, out_;
  const Tensor* x_ = nullptr;
  Tensor y_, dx_;
};

}  // namespace peer
