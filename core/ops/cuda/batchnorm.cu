// CUDA implementation of ops/batchnorm.h. Feature statistics: a block per feature sums its column
// in double (each thread a strided share of the rows, then a fixed tree over the block), so the
// result is the same run to run; the element kernels run batchnorm_math.h, the CPU's math.
#include "core/ops/batchnorm.h"
#include "core/ops/batchnorm_math.h"
#include "core/ops/cuda/block_reduce.cuh"
#include "core/ops/cuda/launch.cuh"

namespace peer::cuda {

namespace {

// Block per feature f: mean (F) and rstd (F); training updates the running statistics.
__global__ void stats_kernel(const float* x, int64_t N, int64_t F, BatchNormParams p, bool batch_stats, double* mean,
                             float* rstd) {
  __shared__ double scratch[kReduceThreads];
  const int64_t f = blockIdx.x;
  double m, var;
  if (batch_stats) {
    double s = 0.0;
    for (int64_t i = threadIdx.x; i < N; i += kReduceThreads) s += x[i * F + f];
    m = block_sum(s, scratch) / double(N);
    double ss = 0.0;
    for (int64_t i = threadIdx.x; i < N; i += kReduceThreads) ss += (x[i * F + f] - m) * (x[i * F + f] - m);
    ss = block_sum(ss, scratch);
    if (threadIdx.x == 0) batchnorm_running(p.running_mean[f], p.running_var[f], m, ss, N, p.momentum);
    var = ss / double(N);
  } else {
    m = p.running_mean[f];
    var = p.running_var[f];
  }
  if (threadIdx.x == 0) {
    mean[f] = m;
    rstd[f] = batchnorm_rstd(var, p.eps);
  }
}

__global__ void normalize_kernel(const float* x, int64_t N, int64_t F, BatchNormParams p, const double* mean,
                                 const float* rstd, float* xhat, float* y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < N * F; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t f = i % F;
    const float xh = batchnorm_xhat(x[i], mean[f], rstd[f]);
    xhat[i] = xh;
    y[i] = xh * p.weight[f] + p.bias[f];
  }
}

// Block per feature: sums of dy and dy * xhat (F each); the affine gradients accumulate.
__global__ void grad_stats_kernel(const float* dy, const float* xhat, int64_t N, int64_t F, BatchNormParams p,
                                  double* sum_g, double* sum_gx) {
  __shared__ double scratch[kReduceThreads];
  const int64_t f = blockIdx.x;
  double g = 0.0, gx = 0.0;
  for (int64_t i = threadIdx.x; i < N; i += kReduceThreads) {
    g += dy[i * F + f];
    gx += double(dy[i * F + f]) * xhat[i * F + f];
  }
  g = block_sum(g, scratch);
  gx = block_sum(gx, scratch);
  if (threadIdx.x == 0) {
    sum_g[f] = g;
    sum_gx[f] = gx;
    if (p.dweight) {
      p.dweight[f] += float(gx);
      p.dbias[f] += float(g);
    }
  }
}

__global__ void dx_kernel(const float* dy, const float* xhat, int64_t N, int64_t F, BatchNormParams p,
                          const float* rstd, const double* sum_g, const double* sum_gx, bool batch_stats, float* dx) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < N * F; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t f = i % F;
    dx[i] = batchnorm_dx(dy[i], xhat[i], p.weight[f], rstd[f], sum_g[f], sum_gx[f], N, batch_stats);
  }
}

}  // namespace

void batchnorm_forward(const Tensor& x, const BatchNormParams& p, bool batch_stats, Tensor& xhat, Tensor& y,
                       Tensor& rstd) {
  const int64_t N = x.dim(0), F = x.dim(1);
  xhat.resize({N, F}, Device::CUDA);
  y.resize({N, F}, Device::CUDA);
  rstd.resize({F}, Device::CUDA);
  if (F == 0) return;
  Tensor mean({F}, Device::CUDA, DType::F64);
  stats_kernel<<<unsigned(F), kReduceThreads>>>(x.data(), N, F, p, batch_stats, mean.data_f64(), rstd.data());
  PEER_CUDA_CHECK_LAUNCH();
  if (N == 0) return;
  normalize_kernel<<<grid_size(N * F), kThreads>>>(x.data(), N, F, p, mean.data_f64(), rstd.data(), xhat.data(),
                                                   y.data());
  PEER_CUDA_CHECK_LAUNCH();
}

void batchnorm_backward(const Tensor& dy, const Tensor& xhat, const Tensor& rstd, const BatchNormParams& p,
                        bool batch_stats, Tensor& dx) {
  const int64_t N = dy.dim(0), F = dy.dim(1);
  dx.resize({N, F}, Device::CUDA);
  if (N == 0 || F == 0) return;
  Tensor sum_g({F}, Device::CUDA, DType::F64), sum_gx({F}, Device::CUDA, DType::F64);
  grad_stats_kernel<<<unsigned(F), kReduceThreads>>>(dy.data(), xhat.data(), N, F, p, sum_g.data_f64(),
                                                   sum_gx.data_f64());
  PEER_CUDA_CHECK_LAUNCH();
  dx_kernel<<<grid_size(N * F), kThreads>>>(dy.data(), xhat.data(), N, F, p, rstd.data(), sum_g.data_f64(),
                                            sum_gx.data_f64(), batch_stats, dx.data());
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
