#include "core/cuda/check.h"
#include "core/ops/embedding.h"

namespace peer::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int64_t kIdsTile = 1024;  // ids staged in shared memory per pass of the backward

__global__ void embedding_forward_kernel(const float* W, const int32_t* ids, int64_t n, int64_t num, int64_t d,
                                         float* y) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < n * d; e += int64_t(gridDim.x) * blockDim.x) {
    const int32_t id = ids[e / d];
    y[e] = id >= 0 && id < num ? W[int64_t(id) * d + e % d] : __int_as_float(0x7fc00000);  // NaN
  }
}

// Block r owns table row r: it scans all ids in order and adds the matching rows of dy, so each
// gradient element has one writer and one summation order (the CPU's), without atomics.
__global__ void embedding_backward_kernel(const float* dy, const int32_t* ids, int64_t n, int64_t num, int64_t d,
                                          float* dW) {
  __shared__ int32_t tile[kIdsTile];
  for (int64_t r = blockIdx.x; r < num; r += gridDim.x) {
    for (int64_t i0 = 0; i0 < n; i0 += kIdsTile) {
      const int64_t count = min(kIdsTile, n - i0);
      __syncthreads();  // the previous tile is read by every thread
      for (int64_t t = threadIdx.x; t < count; t += blockDim.x) tile[t] = ids[i0 + t];
      __syncthreads();
      for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
        float g = dW[r * d + j];
        bool touched = false;
        for (int64_t t = 0; t < count; ++t)
          if (tile[t] == r) {
            g += dy[(i0 + t) * d + j];
            touched = true;
          }
        if (touched) dW[r * d + j] = g;
      }
    }
  }
}

int blocks_for(int64_t n) { return int(std::min<int64_t>(n, 65535)); }

}  // namespace

void embedding_forward(const Tensor& W, const Tensor& ids, Tensor& y) {
  const int64_t n = ids.numel(), num = W.dim(0), d = W.dim(1);
  if (n * d == 0) return;
  embedding_forward_kernel<<<blocks_for((n * d + kThreads - 1) / kThreads), kThreads>>>(W.data(), ids.data_i32(), n,
                                                                                         num, d, y.data());
  PEER_CUDA_CHECK_LAUNCH();
}

void embedding_backward(const Tensor& dy, const Tensor& ids, Tensor& dW) {
  const int64_t n = ids.numel(), num = dW.dim(0), d = dW.dim(1);
  if (n * d * num == 0) return;
  embedding_backward_kernel<<<blocks_for(num), kThreads>>>(dy.data(), ids.data_i32(), n, num, d, dW.data());
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
