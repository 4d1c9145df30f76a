#include "core/ops/batchnorm.h"

#include <vector>

#include "core/ops/batchnorm_math.h"

namespace peer {

void batchnorm_forward(const Tensor& x, const BatchNormParams& p, bool batch_stats, Tensor& xhat, Tensor& y,
                       Tensor& rstd) {
  if (x.device() == Device::CUDA) return cuda::batchnorm_forward(x, p, batch_stats, xhat, y, rstd);
  const int64_t N = x.dim(0), F = x.dim(1);
  xhat.resize({N, F}, x.device());
  y.resize({N, F}, x.device());
  rstd.resize({F}, x.device());
  std::vector<double> mean(F, 0.0), var(F, 0.0);
  if (batch_stats) {
    for (int64_t i = 0; i < N; ++i)
      for (int64_t f = 0; f < F; ++f) mean[f] += x[i * F + f];
    for (int64_t f = 0; f < F; ++f) mean[f] /= double(N);
    for (int64_t i = 0; i < N; ++i)
      for (int64_t f = 0; f < F; ++f) var[f] += (x[i * F + f] - mean[f]) * (x[i * F + f] - mean[f]);
    for (int64_t f = 0; f < F; ++f) {
      batchnorm_running(p.running_mean[f], p.running_var[f], mean[f], var[f], N, p.momentum);
      var[f] /= double(N);
    }
  } else {
    for (int64_t f = 0; f < F; ++f) {
      mean[f] = p.running_mean[f];
      var[f] = p.running_var[f];
    }
  }
  for (int64_t f = 0; f < F; ++f) rstd[f] = batchnorm_rstd(var[f], p.eps);
#pragma omp parallel for schedule(static) if (N * F > 32768)
  for (int64_t i = 0; i < N; ++i)
    for (int64_t f = 0; f < F; ++f) {
      float xh = batchnorm_xhat(x[i * F + f], mean[f], rstd[f]);
      xhat[i * F + f] = xh;
      y[i * F + f] = xh * p.weight[f] + p.bias[f];
    }
}

void batchnorm_backward(const Tensor& dy, const Tensor& xhat, const Tensor& rstd, const BatchNormParams& p,
                        bool batch_stats, Tensor& dx) {
  if (dy.device() == Device::CUDA) return cuda::batchnorm_backward(dy, xhat, rstd, p, batch_stats, dx);
  const int64_t N = dy.dim(0), F = dy.dim(1);
  std::vector<double> sum_g(F, 0.0), sum_gx(F, 0.0);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t f = 0; f < F; ++f) {
      sum_g[f] += dy[i * F + f];
      sum_gx[f] += double(dy[i * F + f]) * xhat[i * F + f];
    }
  if (p.dweight)
    for (int64_t f = 0; f < F; ++f) {
      p.dweight[f] += float(sum_gx[f]);
      p.dbias[f] += float(sum_g[f]);
    }
  dx.resize({N, F}, dy.device());
#pragma omp parallel for schedule(static) if (N * F > 32768)
  for (int64_t i = 0; i < N; ++i)
    for (int64_t f = 0; f < F; ++f)
      dx[i * F + f] = batchnorm_dx(dy[i * F + f], xhat[i * F + f], p.weight[f], rstd[f], sum_g[f], sum_gx[f], N, batch_stats);
}

}  // namespace peer
