// CUDA implementation of ops/activation.h: grid-stride loops over the elements, each computing
// what the CPU loop computes (activation_math.h).
#include "core/ops/activation.h"
#include "core/ops/cuda/launch.cuh"

namespace peer::cuda {

namespace {
__global__ void activation_forward_kernel(Activation a, const float* x, float* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = activation_value(a, x[i]);
}

__global__ void activation_backward_kernel(Activation a, const float* x, const float* dy, float* dx, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    dx[i] = activation_derivative(a, x[i]) * dy[i];
}
}  // namespace

void activation_forward(Activation a, const float* x, float* y, int64_t n) {
  if (n == 0) return;
  activation_forward_kernel<<<grid_size(n), kThreads>>>(a, x, y, n);
  PEER_CUDA_CHECK_LAUNCH();
}

void activation_backward(Activation a, const float* x, const float* dy, float* dx, int64_t n) {
  if (n == 0) return;
  activation_backward_kernel<<<grid_size(n), kThreads>>>(a, x, dy, dx, n);
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
