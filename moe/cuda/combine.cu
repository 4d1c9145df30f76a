// Dispatch (token rows -> grouped rows) and the gate-weighted combine (grouped rows -> token rows)
// on the GPU (moe/dispatch.h). The combine is token-parallel, each output a sum over the token's
// choices in order, so it needs no atomics; a gate's gradient is a block's fixed-order dot product.
#include "core/cuda/check.h"
#include "core/ops/cuda/launch.cuh"
#include "core/ops/cuda/block_reduce.cuh"
#include "moe/dispatch.h"

namespace peer::cuda {

namespace {

// xg[r] = x[token[r]] for the kept rows r < offsets[E].
__global__ void dispatch_kernel(const float* x, const int32_t* token, const int32_t* kept, int64_t rows, int64_t d,
                                float* xg) {
  const int64_t used = *kept * d;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < rows * d && i < used;
       i += int64_t(gridDim.x) * blockDim.x)
    xg[i] = x[int64_t(token[i / d]) * d + i % d];
}

// y[t, j] = sum over s of (gate[t*k+s] or 1) * grouped[row_of[t*k+s], j], kept choices only.
__global__ void combine_kernel(const float* grouped, const float* gate, const int32_t* row_of, int64_t N, int64_t k,
                               int64_t d, float* y) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < N * d; i += int64_t(gridDim.x) * blockDim.x) {
    const int64_t t = i / d, j = i % d;
    float o = 0.0f;
    for (int64_t s = 0; s < k; ++s) {
      const int32_t row = row_of[t * k + s];
      if (row >= 0) o += (gate ? gate[t * k + s] : 1.0f) * grouped[int64_t(row) * d + j];
    }
    y[i] = o;
  }
}

// Block per assignment a = t*k + s: dgrouped[row] = gate[a] * dy[t], dgate[a] = dy[t] . grouped[row].
__global__ void combine_backward_kernel(const float* dy, const float* grouped, const float* gate,
                                        const int32_t* row_of, int64_t n, int64_t k, int64_t d, float* dgrouped,
                                        float* dgate) {
  __shared__ float scratch[kReduceThreads];
  for (int64_t a = blockIdx.x; a < n; a += gridDim.x) {
    const int32_t row = row_of[a];
    if (row < 0) {  // the whole block: a dropped choice
      if (threadIdx.x == 0) dgate[a] = 0.0f;
      continue;
    }
    const float* g = dy + (a / k) * d;
    const float* src = grouped + int64_t(row) * d;
    float* dst = dgrouped + int64_t(row) * d;
    float dot = 0.0f;
    for (int64_t j = threadIdx.x; j < d; j += kReduceThreads) {
      dot += g[j] * src[j];
      dst[j] = gate[a] * g[j];
    }
    dot = block_sum(dot, scratch);
    if (threadIdx.x == 0) dgate[a] = dot;
  }
}

}  // namespace

void dispatch_rows(const Tensor& x, const DispatchPlan& p, Tensor& xg) {
  const int64_t rows = p.rows(), d = x.dim(1);
  if (rows * d == 0) return;
  dispatch_kernel<<<grid_size(rows * d), kThreads>>>(x.data(), p.token.data_i32(), p.offsets.data_i32() + p.num_experts,
                                                     rows, d, xg.data());
  PEER_CUDA_CHECK_LAUNCH();
}

void combine_rows(const Tensor& grouped, const Tensor* gate, const DispatchPlan& p, int64_t k, Tensor& y) {
  const int64_t N = y.dim(0), d = y.dim(1);
  if (N * d == 0) return;
  combine_kernel<<<grid_size(N * d), kThreads>>>(grouped.data(), gate ? gate->data() : nullptr, p.row_of.data_i32(), N,
                                                 k, d, y.data());
  PEER_CUDA_CHECK_LAUNCH();
}

void combine_rows_backward(const Tensor& dy, const Tensor& grouped, const Tensor& gate, const DispatchPlan& p,
                           int64_t k, Tensor& dgrouped, Tensor& dgate) {
  const int64_t n = dgate.numel(), d = dy.dim(1);
  if (n == 0) return;
  combine_backward_kernel<<<unsigned(std::min<int64_t>(n, 65535)), kReduceThreads>>>(
      dy.data(), grouped.data(), gate.data(), p.row_of.data_i32(), n, k, d, dgrouped.data(), dgate.data());
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
