#include "core/sparse_rows.h"

#include <algorithm>

namespace peer {

void scatter_rows(std::vector<RowContribution>& c, const float* src, int64_t ld, int64_t w, RowSparseGrad& grad) {
  // Group by row keeping the given order within a row: a stable LSD radix sort on the row
  // (11-bit digits), O(contributions) whatever the table size. Scratch vectors are per thread
  // and keep their capacity.
  thread_local std::vector<RowContribution> sorted;
  thread_local std::vector<int64_t> starts_tl;
  std::vector<int64_t>& starts = starts_tl;  // the caller's: read by every thread below
  sorted.resize(c.size());
  int32_t max_row = 0;
  for (const RowContribution& x : c) max_row = std::max(max_row, x.row);
  for (int shift = 0; shift == 0 || (max_row >> shift) > 0; shift += 11) {
    size_t count[2049] = {};
    for (const RowContribution& x : c) ++count[((uint32_t(x.row) >> shift) & 2047) + 1];
    for (int b = 0; b < 2048; ++b) count[b + 1] += count[b];
    for (const RowContribution& x : c) sorted[count[(uint32_t(x.row) >> shift) & 2047]++] = x;
    c.swap(sorted);
  }
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
