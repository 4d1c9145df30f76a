#include "core/nn/linear.h"

#include <stdexcept>

#include "core/ops/linear.h"

namespace peer {

Linear::Linear(const std::string& name, int64_t in, int64_t out, bool has_bias)
    : weight(name + ".weight", {out, in}, true), in_(in), out_(out) {
  if (has_bias) bias = Parameter(name + ".bias", {out}, false);
}

void Linear::init(InitScheme s, uint64_t seed) {
  init_linear_weight(weight, s, seed);
  if (!bias.value.empty()) bias.value.zero();
}

const Tensor& Linear::forward(const Tensor& x) {
  if (x.ndim() != 2 || x.dim(1) != in_)
    throw std::invalid_argument("[linear " + weight.name + "] expected input (N, " + std::to_string(in_) +
                                "), got " + x.shape_str());
  if (x.device() != weight.value.device())
    throw std::invalid_argument("[linear " + weight.name + "] input and weight on different devices (Module::to "
                                "moves the weights)");
  linear_forward(x, weight.value, bias.value, y_);
  x_ = &x;
  return y_;
}

const Tensor& Linear::backward(const Tensor& dy) {
  const bool grads = !weight.frozen;
  linear_backward(dy, *x_, weight.value, grads ? &weight.grad : nullptr,
                  grads && !bias.value.empty() ? &bias.grad : nullptr, dx_);
  return dx_;
}

void Linear::collect_parameters(std::vector<Parameter*>& out) {
  out.push_back(&weight);
  if (!bias.value.empty()) out.push_back(&bias);
}

}  // namespace peer
