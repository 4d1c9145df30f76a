#include "core/nn/layernorm.h"

#include <stdexcept>

#include "core/ops/layernorm.h"

namespace peer {

LayerNorm::LayerNorm(const std::string& name, int64_t dim, float eps)
    : weight(name + ".weight", {dim}, false), bias(name + ".bias", {dim}, false), eps_(eps) {
  weight.value.fill(1.0f);
}

const Tensor& LayerNorm::forward(const Tensor& x) {
  if (x.ndim() != 2 || x.dim(1) != weight.value.numel())
    throw std::invalid_argument("[layernorm " + weight.name + "] bad input shape " + x.shape_str());
  layernorm_forward(x, weight.value, bias.value, eps_, y_, mean_, rstd_);
  x_ = &x;
  return y_;
}

const Tensor& LayerNorm::backward(const Tensor& dy) {
  if (weight.frozen) layernorm_backward(*x_, weight.value, mean_, rstd_, dy, dx_, nullptr, nullptr);
  else layernorm_backward(*x_, weight.value, mean_, rstd_, dy, dx_, &weight.grad, &bias.grad);
  return dx_;
}

void LayerNorm::collect_parameters(std::vector<Parameter*>& out) {
  out.push_back(&weight);
  out.push_back(&bias);
}

}  // namespace peer
