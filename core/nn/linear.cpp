#include "core/nn/linear.h"

#include <stdexcept>

#include "core/gemm.h"

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
  int64_t n = x.dim(0);
  y_.resize({n, out_});
  if (!bias.value.empty()) {
    for (int64_t i = 0; i < n; ++i)
      std::copy(bias.value.data(), bias.value.data() + out_, y_.data() + i * out_);
  }
  gemm(false, true, n, out_, in_, 1.0f, x.data(), in_, weight.value.data(), in_,
       bias.value.empty() ? 0.0f : 1.0f, y_.data(), out_);
  x_ = &x;
  return y_;
}

const Tensor& Linear::backward(const Tensor& dy) {
  int64_t n = dy.dim(0);
  if (!weight.frozen) {
    gemm(true, false, out_, in_, n, 1.0f, dy.data(), out_, x_->data(), in_, 1.0f, weight.grad.data(), in_);
    if (!bias.value.empty()) add_column_sums(dy.data(), n, out_, out_, bias.grad.data());
  }
  dx_.resize({n, in_});
  gemm(false, false, n, in_, out_, 1.0f, dy.data(), out_, weight.value.data(), in_, 0.0f, dx_.data(), in_);
  return dx_;
}

void Linear::collect_parameters(std::vector<Parameter*>& out) {
  out.push_back(&weight);
  if (!bias.value.empty()) out.push_back(&bias);
}

}  // namespace peer
