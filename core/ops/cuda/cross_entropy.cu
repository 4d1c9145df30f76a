// Softmax cross-entropy on the GPU: one block per row runs the row math of
// core/ops/softmax_math.h on its threads' strided shares and combines their partials in a fixed
// tree (deterministic: the same bits run after run); then one block reduces the row losses to the
// mean, on the device.
#include <algorithm>
#include <cmath>

#include "core/cuda/check.h"
#include "core/ops/cross_entropy.h"
#include "core/ops/softmax_math.h"

namespace peer::cuda {

namespace {
constexpr int kThreads = 256;  // a power of two: the tree reductions halve it

// Combines the block's values v[0 .. kThreads) into v[0] in a fixed order.
template <class T, class Op>
__device__ void block_reduce(T* v, Op op) {
  for (int half = kThreads / 2; half > 0; half /= 2) {
    __syncthreads();
    if (threadIdx.x < half) v[threadIdx.x] = op(v[threadIdx.x], v[threadIdx.x + half]);
  }
  __syncthreads();
}

struct Max {
  __device__ float operator()(float a, float b) const { return a < b ? b : a; }
};
struct Sum {
  __device__ double operator()(double a, double b) const { return a + b; }
};

// logits (n, v), targets (n), row_loss (n), dlogits (n, v) or null. Blocks take rows in turn.
__global__ void cross_entropy_rows_kernel(const float* logits, const int32_t* targets, int64_t n, int64_t v,
                                          float scale, double* row_loss, float* dlogits) {
  __shared__ float maxes[kThreads];
  __shared__ double sums[kThreads];
  const int tid = threadIdx.x;
  for (int64_t i = blockIdx.x; i < n; i += gridDim.x) {
    const float* z = logits + i * v;
    maxes[tid] = row_max(z, tid, v, kThreads);
    block_reduce(maxes, Max());
    const float mx = maxes[0];
    sums[tid] = row_sum_exp(z, tid, v, kThreads, mx);
    block_reduce(sums, Sum());
    const double lse = log_sum_exp(mx, sums[0]);
    const int32_t t = targets[i];
    const bool valid = t >= 0 && t < v;
    if (tid == 0) row_loss[i] = valid ? cross_entropy_row_loss(lse, z[t]) : NAN;
    if (dlogits) {
      float* g = dlogits + i * v;
      cross_entropy_row_grad(z, g, tid, v, kThreads, lse, valid ? scale : NAN);
      __syncthreads();  // g[t] was written by another thread
      if (tid == 0 && valid) g[t] -= scale;
    }
    __syncthreads();  // maxes and sums are reused by the next row
  }
}

// row_loss (n) -> loss (1): each thread sums a contiguous run of rows in order, then the tree.
__global__ void mean_kernel(const double* row_loss, int64_t n, double* loss) {
  __shared__ double sums[kThreads];
  const int64_t per = (n + kThreads - 1) / kThreads, first = threadIdx.x * per;
  double s = 0.0;
  for (int64_t i = first; i < first + per && i < n; ++i) s += row_loss[i];
  sums[threadIdx.x] = s;
  block_reduce(sums, Sum());
  if (threadIdx.x == 0) loss[0] = sums[0] / double(n);
}
}  // namespace

void cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& row_loss, Tensor& loss, Tensor* dlogits,
                   float grad_scale) {
  const int64_t n = logits.dim(0), v = logits.dim(1);
  if (n > 0) {
    const int blocks = int(std::min<int64_t>(n, 65536));
    cross_entropy_rows_kernel<<<blocks, kThreads>>>(logits.data(), targets.data_i32(), n, v, grad_scale / float(n),
                                                    row_loss.data_f64(), dlogits ? dlogits->data() : nullptr);
    PEER_CUDA_CHECK_LAUNCH();
  }
  mean_kernel<<<1, kThreads>>>(row_loss.data_f64(), n, loss.data_f64());  // n = 0: 0 / 0, NaN like the CPU
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
