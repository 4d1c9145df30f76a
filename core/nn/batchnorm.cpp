#include "core/nn/batchnorm.h"

#include <stdexcept>

#include "core/ops/batchnorm.h"

namespace peer {

BatchNorm1d::BatchNorm1d(const std::string& name, int64_t features, float eps, float momentum)
    : weight(name + ".weight", {features}, false),
      bias(name + ".bias", {features}, false),
      running_mean(Parameter::make_buffer(name + ".running_mean", {features})),
      running_var(Parameter::make_buffer(name + ".running_var", {features})),
      eps_(eps),
      momentum_(momentum) {
  weight.value.fill(1.0f);
  running_var.value.fill(1.0f);
}

BatchNormParams BatchNorm1d::params() {
  const bool grads = !weight.frozen;
  return {weight.value.data(), bias.value.data(), running_mean.value.data(), running_var.value.data(),
          grads ? weight.grad.data() : nullptr, grads ? bias.grad.data() : nullptr, eps_, momentum_};
}

const Tensor& BatchNorm1d::forward(const Tensor& x, bool train) {
  train_ = train;
  batch_stats_ = train && !fixed_stats;
  if (batch_stats_ && x.dim(0) < 2) throw std::invalid_argument("[batchnorm " + weight.name + "] training needs >= 2 rows");
  batchnorm_forward(x, params(), batch_stats_, xhat_, y_, rstd_);
  return y_;
}

const Tensor& BatchNorm1d::backward(const Tensor& dy) {
  if (!train_) throw std::logic_error("[batchnorm " + weight.name + "] backward after an eval forward");
  batchnorm_backward(dy, xhat_, rstd_, params(), batch_stats_, dx_);
  return dx_;
}

void BatchNorm1d::collect_parameters(std::vector<Parameter*>& out) {
  out.push_back(&weight);
  out.push_back(&bias);
  out.push_back(&running_mean);
  out.push_back(&running_var);
}

}  // namespace peer
