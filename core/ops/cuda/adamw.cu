// CUDA implementation of ops/adamw.h. Every element runs adamw_element (adamw_math.h), the
// CPU's update. Dense parameters go 64 to a launch as a kernel parameter (launch.cuh), a block per
// chunk of a parameter; row-sparse parameters take a block per row.
#include "core/ops/adamw.h"
#include "core/ops/cuda/launch.cuh"

namespace peer::cuda {

namespace {
constexpr int kSpansPerLaunch = 64;
constexpr int64_t kChunk = 4096;  // elements a block updates at a time
using Batch = SpanBatch<AdamWSpan, kSpansPerLaunch>;

__global__ void dense_kernel(const __grid_constant__ Batch b, int64_t chunks, AdamWStep s) {
  for (int64_t c = blockIdx.x; c < chunks; c += gridDim.x) {
    const int k = b.span_of(c);
    const AdamWSpan& p = b.span[k];
    const int64_t i0 = (c - b.first_chunk[k]) * kChunk, i1 = min(p.n, i0 + kChunk);
    for (int64_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) adamw_element(p.w[i], p.m[i], p.v[i], p.g[i], p.wd, s);
  }
}

// w, m, v (rows, width); g (k, width) for the touched rows (k).
// A padded slot (row >= rows, RowSparseGrad::kPadRow) is skipped.
__global__ void lazy_rows_kernel(float* w, float* m, float* v, int64_t rows, int64_t width, const int32_t* touched,
                                 const float* g, int64_t k, float wd, AdamWStep s) {
  for (int64_t t = blockIdx.x; t < k; t += gridDim.x) {
    const int64_t r = touched[t];
    if (r < 0 || r >= rows) continue;
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x)
      adamw_element(w[r * width + j], m[r * width + j], v[r * width + j], g[t * width + j], wd, s);
  }
}

__global__ void dense_rows_kernel(float* w, float* m, float* v, int64_t rows, int64_t width, const int32_t* touched,
                                  const float* g, int64_t k, float wd, AdamWStep s) {
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t t = find_sorted_row(touched, k, int32_t(r));
    for (int64_t j = threadIdx.x; j < width; j += blockDim.x)
      adamw_element(w[r * width + j], m[r * width + j], v[r * width + j], t >= 0 ? g[t * width + j] : 0.0f, wd, s);
  }
}

constexpr int kMaxBlocks = 4096;
constexpr int kRowThreads = 128;
}  // namespace

void adamw_update(const std::vector<AdamWSpan>& spans, AdamWStep s) {
  for_each_batch<AdamWSpan, kSpansPerLaunch>(spans, kChunk, [&](const Batch& b, int64_t chunks) {
    dense_kernel<<<int(std::min<int64_t>(chunks, kMaxBlocks)), kThreads>>>(b, chunks, s);
    PEER_CUDA_CHECK_LAUNCH();
  });
}

void adamw_update_rows(float* w, float* m, float* v, int64_t rows, int64_t width, const int32_t* touched,
                       const float* g, int64_t k, float wd, bool lazy, AdamWStep s) {
  const int64_t blocks = lazy ? k : rows;
  if (blocks == 0 || width == 0) return;
  const int grid = int(std::min<int64_t>(blocks, kMaxBlocks));
  if (lazy) lazy_rows_kernel<<<grid, kRowThreads>>>(w, m, v, rows, width, touched, g, k, wd, s);
  else dense_rows_kernel<<<grid, kRowThreads>>>(w, m, v, rows, width, touched, g, k, wd, s);
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
