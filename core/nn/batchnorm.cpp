#include "core/nn/batchnorm.h"

#include <cmath>
#include <stdexcept>

#include "core/ops/backend.h"

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

const Tensor& BatchNorm1d::forward(const Tensor& x, bool train) {
  require_cpu(x, "[batchnorm forward]");
  const int64_t N = x.dim(0), F = x.dim(1);
  train_ = train;
  batch_stats_ = train && !fixed_stats;
  if (batch_stats_ && N < 2) throw std::invalid_argument("[batchnorm " + weight.name + "] training needs >= 2 rows");
  xhat_.resize({N, F});
  y_.resize({N, F});
  rstd_.resize(F);
  std::vector<double> mean(F, 0.0), var(F, 0.0);
  if (batch_stats_) {
    for (int64_t i = 0; i < N; ++i)
      for (int64_t f = 0; f < F; ++f) mean[f] += x[i * F + f];
    for (int64_t f = 0; f < F; ++f) mean[f] /= double(N);
    for (int64_t i = 0; i < N; ++i)
      for (int64_t f = 0; f < F; ++f) var[f] += (x[i * F + f] - mean[f]) * (x[i * F + f] - mean[f]);
    for (int64_t f = 0; f < F; ++f) {
      running_mean.value[f] = float((1 - momentum_) * running_mean.value[f] + momentum_ * mean[f]);
      running_var.value[f] = float((1 - momentum_) * running_var.value[f] + momentum_ * var[f] / double(N - 1));
      var[f] /= double(N);
    }
  } else {
    for (int64_t f = 0; f < F; ++f) {
      mean[f] = running_mean.value[f];
      var[f] = running_var.value[f];
    }
  }
  for (int64_t f = 0; f < F; ++f) rstd_[f] = float(1.0 / std::sqrt(var[f] + eps_));
#pragma omp parallel for schedule(static) if (N * F > 32768)
  for (int64_t i = 0; i < N; ++i)
    for (int64_t f = 0; f < F; ++f) {
      float xh = float(x[i * F + f] - mean[f]) * rstd_[f];
      xhat_[i * F + f] = xh;
      y_[i * F + f] = xh * weight.value[f] + bias.value[f];
    }
  return y_;
}

const Tensor& BatchNorm1d::backward(const Tensor& dy) {
  require_cpu(dy, "[batchnorm backward]");
  if (!train_) throw std::logic_error("[batchnorm " + weight.name + "] backward after an eval forward");
  const int64_t N = dy.dim(0), F = dy.dim(1);
  std::vector<double> sum_g(F, 0.0), sum_gx(F, 0.0);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t f = 0; f < F; ++f) {
      sum_g[f] += dy[i * F + f];
      sum_gx[f] += double(dy[i * F + f]) * xhat_[i * F + f];
    }
  if (!weight.frozen)
    for (int64_t f = 0; f < F; ++f) {
      weight.grad[f] += float(sum_gx[f]);
      bias.grad[f] += float(sum_g[f]);
    }
  dx_.resize({N, F});
  const double through_stats = batch_stats_ ? 1.0 : 0.0;  // fixed statistics do not depend on x
#pragma omp parallel for schedule(static) if (N * F > 32768)
  for (int64_t i = 0; i < N; ++i)
    for (int64_t f = 0; f < F; ++f)
      dx_[i * F + f] = weight.value[f] * rstd_[f] *
                       float(dy[i * F + f] - through_stats * (sum_g[f] / double(N) + xhat_[i * F + f] * sum_gx[f] / double(N)));
  return dx_;
}

void BatchNorm1d::collect_parameters(std::vector<Parameter*>& out) {
  out.push_back(&weight);
  out.push_back(&bias);
  out.push_back(&running_mean);
  out.push_back(&running_var);
}

}  // namespace peer
