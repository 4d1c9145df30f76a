// Dropout on the GPU: one thread per Philox block (8 elements), drawing with the CPU's rule
// (core/ops/dropout_math.h), so the mask is the CPU's bit for bit.
#include <algorithm>

#include "core/cuda/check.h"
#include "core/ops/dropout.h"

namespace peer::cuda {

namespace {
constexpr int kThreads = 256;

int blocks_for(int64_t work) { return int(std::min<int64_t>((work + kThreads - 1) / kThreads, 65536)); }

// x, y, mask (n); y may be x.
__global__ void dropout_forward_kernel(const float* x, float* y, float* mask, int64_t n, DropoutRule r) {
  const int64_t groups = (n + 7) / 8;
  for (int64_t g = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; g < groups; g += int64_t(gridDim.x) * blockDim.x) {
    const PhiloxWords block = dropout_block(r, g);
    for (int64_t i = 8 * g; i < 8 * g + 8 && i < n; ++i) {
      mask[i] = dropout_factor(r, dropout_draw(block, i));
      y[i] = x[i] * mask[i];
    }
  }
}

// dy, mask, dx (n); dx may be dy.
__global__ void dropout_backward_kernel(const float* dy, const float* mask, float* dx, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = dy[i] * mask[i];
}
}  // namespace

void dropout_forward(const Tensor& x, Tensor& y, Tensor& mask, const DropoutRule& rule) {
  const int64_t n = x.numel();
  if (n == 0) return;
  dropout_forward_kernel<<<blocks_for((n + 7) / 8), kThreads>>>(x.data(), y.data(), mask.data(), n, rule);
  PEER_CUDA_CHECK_LAUNCH();
}

void dropout_backward(const Tensor& dy, const Tensor& mask, Tensor& dx) {
  const int64_t n = dy.numel();
  if (n == 0) return;
  dropout_backward_kernel<<<blocks_for(n), kThreads>>>(dy.data(), mask.data(), dx.data(), n);
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
