// CUDA implementation of ops/grad_norm.h, deterministic and without a host round trip:
//   1. a block per chunk of kChunk elements sums its squares (double) in a fixed tree and writes
//      the sum to its slot of a partials array (chunks of every span, in span order);
//   2. one block adds the partials in a fixed order, writes the norm and the clipping scale;
//   3. the spans are scaled by that scale, read on the device (when clipping is on at all).
// Which elements each thread adds, and in which order, depends on the sizes alone.
#include "core/allocator.h"
#include "core/ops/cuda/block_reduce.cuh"
#include "core/ops/cuda/launch.cuh"
#include "core/ops/grad_norm.h"

namespace peer::cuda {

namespace {
constexpr int kSpansPerLaunch = 128;
constexpr int64_t kChunk = 1 << 14;
constexpr int kMaxBlocks = 4096;
using Batch = SpanBatch<GradSpan, kSpansPerLaunch>;
static_assert(kThreads == kReduceThreads, "block_sum sums kReduceThreads threads");

__global__ void partial_squares_kernel(const __grid_constant__ Batch b, int64_t chunks, double* partials) {
  __shared__ double shared[kThreads];
  for (int64_t c = blockIdx.x; c < chunks; c += gridDim.x) {
    const int k = b.span_of(c);
    const GradSpan& p = b.span[k];
    const int64_t i0 = (c - b.first_chunk[k]) * kChunk, i1 = min(p.n, i0 + kChunk);
    double s = 0.0;
    for (int64_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) s += double(p.g[i]) * p.g[i];
    s = block_sum(s, shared);
    if (threadIdx.x == 0) partials[b.chunk0 + c] = s;
  }
}

// One block: scale = max_norm / (norm + 1e-6) when clipping, else 1 (max_norm <= 0: no clipping).
__global__ void norm_kernel(const double* partials, int64_t n, double max_norm, float* norm_out, float* scale) {
  __shared__ double shared[kThreads];
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += partials[i];
  s = block_sum(s, shared);
  if (threadIdx.x == 0) {
    const double norm = sqrt(s);
    *norm_out = float(norm);
    *scale = max_norm > 0.0 && norm > max_norm ? float(max_norm / (norm + 1e-6)) : 1.0f;
  }
}

__global__ void scale_kernel(const __grid_constant__ Batch b, int64_t chunks, const float* scale) {
  const float f = *scale;
  if (f == 1.0f) return;
  for (int64_t c = blockIdx.x; c < chunks; c += gridDim.x) {
    const int k = b.span_of(c);
    const GradSpan& p = b.span[k];
    const int64_t i0 = (c - b.first_chunk[k]) * kChunk, i1 = min(p.n, i0 + kChunk);
    for (int64_t i = i0 + threadIdx.x; i < i1; i += blockDim.x) p.g[i] *= f;
  }
}

// Device scratch from the caching allocator, released when the queued work is still to run: the
// allocator's blocks are only handed to later work on the same stream (core/allocator.h).
struct Scratch {
  explicit Scratch(size_t bytes) : bytes(bytes), p(allocator(Device::CUDA).allocate(bytes)) {}
  ~Scratch() { allocator(Device::CUDA).release(p, bytes); }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  size_t bytes;
  void* p;
};

int blocks_for(int64_t chunks) { return int(std::min<int64_t>(chunks, kMaxBlocks)); }
}  // namespace

void clip_grad_norm(const std::vector<GradSpan>& grads, double max_norm, float* norm_out) {
  int64_t chunks = 0;
  for (const GradSpan& s : grads) chunks += (s.n + kChunk - 1) / kChunk;
  Scratch partials(sizeof(double) * std::max<int64_t>(chunks, 1)), scale(sizeof(float));
  double* part = static_cast<double*>(partials.p);
  for_each_batch<GradSpan, kSpansPerLaunch>(grads, kChunk, [&](const Batch& b, int64_t n) {
    partial_squares_kernel<<<blocks_for(n), kThreads>>>(b, n, part);
    PEER_CUDA_CHECK_LAUNCH();
  });
  norm_kernel<<<1, kThreads>>>(part, chunks, max_norm, norm_out, static_cast<float*>(scale.p));
  PEER_CUDA_CHECK_LAUNCH();
  if (max_norm <= 0.0) return;
  for_each_batch<GradSpan, kSpansPerLaunch>(grads, kChunk, [&](const Batch& b, int64_t n) {
    scale_kernel<<<blocks_for(n), kThreads>>>(b, n, static_cast<const float*>(scale.p));
    PEER_CUDA_CHECK_LAUNCH();
  });
}

}  // namespace peer::cuda
