#include "core/ops/adamw.h"

#include <algorithm>

namespace peer {

namespace {
// n contiguous elements; g == nullptr means a zero gradient.
inline void update_cpu(float* w, const float* g, float* m, float* v, int64_t n, float wd, AdamWStep s) {
  for (int64_t i = 0; i < n; ++i) adamw_element(w[i], m[i], v[i], g ? g[i] : 0.0f, wd, s);
}
}  // namespace

void adamw_update(Device d, const std::vector<AdamWSpan>& spans, AdamWStep s) {
  if (d == Device::CUDA) return cuda::adamw_update(spans, s);
  // Fixed chunks of all spans in one parallel loop (one region per step, and the many small
  // parameters do not run on one thread). Each element's update is independent, so the split
  // does not change any result.
  constexpr int64_t kChunk = 4096;
  std::vector<AdamWSpan> work;
  for (const AdamWSpan& p : spans)
    for (int64_t i0 = 0; i0 < p.n; i0 += kChunk)
      work.push_back({p.w + i0, p.g + i0, p.m + i0, p.v + i0, std::min(kChunk, p.n - i0), p.wd});
#pragma omp parallel for schedule(static)
  for (size_t c = 0; c < work.size(); ++c) update_cpu(work[c].w, work[c].g, work[c].m, work[c].v, work[c].n, work[c].wd, s);
}

void adamw_update_rows(Device d, float* w, float* m, float* v, int64_t rows, int64_t width, const int32_t* touched,
                       const float* g, int64_t k, float wd, bool lazy, AdamWStep s) {
  if (d == Device::CUDA) return cuda::adamw_update_rows(w, m, v, rows, width, touched, g, k, wd, lazy, s);
  auto row = [&](int64_t r, const float* gr) {
    update_cpu(w + r * width, gr, m + r * width, v + r * width, width, wd, s);
  };
  if (lazy) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < k; ++i) row(touched[i], g + i * width);
    return;
  }
  // Dense Adam: walk all rows, pairing each with its gradient row when it has one.
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = find_sorted_row(touched, k, int32_t(r));
    row(r, i >= 0 ? g + i * width : nullptr);
  }
}

}  // namespace peer
