#include "core/cuda/check.h"
#include "core/cuda/memory.h"

#include <algorithm>

namespace peer::cuda {

namespace {
__global__ void fill_kernel(float* p, int64_t n, float value) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    p[i] = value;
}
}  // namespace

void* raw_malloc(size_t bytes) {
  void* p = nullptr;
  PEER_CUDA_CHECK(cudaMalloc(&p, bytes));
  return p;
}

void raw_free(void* p) { PEER_CUDA_CHECK(cudaFree(p)); }

void zero(void* p, size_t bytes) { PEER_CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, 0)); }

// cudaMemcpyDefault: the direction follows from the pointers (unified addressing). A copy to or
// from pageable host memory returns once the host side is safe to reuse.
void copy(void* dst, const void* src, size_t bytes) {
  PEER_CUDA_CHECK(cudaMemcpy(dst, src, bytes, cudaMemcpyDefault));
}

void fill(float* p, int64_t n, float value) {
  if (n == 0) return;
  const int threads = 256;
  const int blocks = int(std::min<int64_t>((n + threads - 1) / threads, 4096));
  fill_kernel<<<blocks, threads>>>(p, n, value);
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
