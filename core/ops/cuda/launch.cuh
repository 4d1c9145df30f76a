// How the kernels of core/ops/cuda are launched.
//   grid_size       blocks for a grid-stride loop over n items (capped: each thread loops).
//   SpanBatch       many runs of elements (one per parameter or gradient) handed to one launch as a
//                   kernel parameter, so an update over every parameter of a model is a few
//                   launches without a descriptor array in device memory (the multi-tensor-apply
//                   way). Each run is cut into chunks of a fixed size; a block takes whole chunks,
//                   so which elements a block sums is fixed by the sizes alone.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/cuda/check.h"

namespace peer::cuda {

constexpr int kThreads = 256;

inline int grid_size(int64_t n, int threads = kThreads) {
  return int(std::clamp<int64_t>((n + threads - 1) / threads, 1, 4096));
}

// Up to kMax spans (Span has a member `int64_t n`: its element count); kernel parameters stay
// under the 4 KiB that every CUDA version accepts.
template <class Span, int kMax>
struct SpanBatch {
  static_assert(sizeof(Span) * kMax + sizeof(int64_t) * (kMax + 2) + 8 <= 4000, "kernel parameters over 4 KiB");
  Span span[kMax];
  int64_t first_chunk[kMax + 1];  // span s holds the batch's chunks [first_chunk[s], first_chunk[s+1])
  int64_t chunk0;                 // index of this batch's first chunk among all batches' chunks
  int count;

  // The span holding chunk c (0 <= c < first_chunk[count]): a binary search in kernel parameters.
  __device__ int span_of(int64_t c) const {
    int lo = 0, hi = count - 1;
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (first_chunk[mid] <= c) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }
};

// Cuts spans into batches of at most kMax spans and calls launch(batch, chunks in the batch) for
// each, in order. Empty spans are left out. Returns the number of chunks over all batches.
template <class Span, int kMax, class Launch>
int64_t for_each_batch(const std::vector<Span>& spans, int64_t chunk, Launch launch) {
  SpanBatch<Span, kMax> b;
  b.count = 0;
  b.first_chunk[0] = 0;
  b.chunk0 = 0;
  auto flush = [&] {
    if (b.count == 0) return;
    launch(b, b.first_chunk[b.count]);
    b.chunk0 += b.first_chunk[b.count];
    b.count = 0;
  };
  for (const Span& s : spans) {
    if (s.n == 0) continue;
    b.span[b.count] = s;
    b.first_chunk[b.count + 1] = b.first_chunk[b.count] + (s.n + chunk - 1) / chunk;
    if (++b.count == kMax) flush();
  }
  flush();
  return b.chunk0;
}

}  // namespace peer::cuda
