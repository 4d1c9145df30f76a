#include "core/sparse_rows.h"

#include <algorithm>

namespace peer {

void scatter_rows(std::vector<RowContribution>& c, const float* src, int64_t ld, int64_t w, RowSparseGrad& grad) {
  // Group by row keeping the given order within a row: sort (row, position) keys in place
  // (no merge buffer), then permute. Scratch vectors are per thread and keep their capacity.
  thread_local std::vector<uint64_t> keys;
  thread_local std::vector<RowContribution> sorted;
  thread_local std::vector<int64_t> starts_tl;
  std::vector<int64_t>& starts = starts_tl;  // the caller's: read by every thread below
  keys.resize(c.size());
  for (size_t i = 0; i < c.size(); ++i) keys[i] = uint64_t(uint32_t(c[i].row)) << 32 | uint32_t(i);
  std::sort(keys.begin(), keys.end());
  sorted.resize(c.size());
  for (size_t i = 0; i < c.size(); ++i) sorted[i] = c[uint32_t(keys[i])];
  c.swap(sorted);
  starts.clear();
  std::vector<int32_t> rows;
  for (size_t i = 0; i < c.size(); ++i)
    if (i == 0 || c[i].row != c[i - 1].row) {
      starts.push_back(int64_t(i));
      rows.push_back(c[i].row);
    }
  starts.push_back(int64_t(c.size()));
  // Into the gradient's own buffer when it is empty (the usual case: one backward per step), so
  // its storage is reused across steps instead of freshly mapped (and page-faulted) each time.
  const bool direct = grad.rows.empty();
  Tensor fresh;
  Tensor& values = direct ? grad.values : fresh;
  values.resize({int64_t(rows.size()), w});
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < int64_t(rows.size()); ++r) {
    float* out = values.data() + r * w;
    for (int64_t i = starts[r]; i < starts[r + 1]; ++i) {
      const float* s = src + int64_t(c[i].src) * ld;
      const float coef = c[i].coef;
      if (i == starts[r]) {
        for (int64_t j = 0; j < w; ++j) out[j] = coef * s[j];
      } else {
        for (int64_t j = 0; j < w; ++j) out[j] += coef * s[j];
      }
    }
  }
  if (direct) grad.rows = std::move(rows);
  else grad.accumulate(rows, values);
}

}  // namespace peer
