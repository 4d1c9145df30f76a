#include "core/cuda/check.h"
#include "core/ops/linear.h"

namespace peer::cuda {

namespace {
__global__ void broadcast_rows_kernel(const float* b, int64_t n, int64_t out, float* y) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n * out; e += int64_t(gridDim.x) * blockDim.x)
    y[e] = b[e % out];
}
}  // namespace

void broadcast_rows(const Tensor& b, Tensor& y) {
  const int64_t n = y.dim(0), out = y.dim(1);
  if (n * out == 0) return;
  const int threads = 256;
  const int blocks = int(std::min<int64_t>((n * out + threads - 1) / threads, 65535));
  broadcast_rows_kernel<<<blocks, threads>>>(b.data(), n, out, y.data());
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
