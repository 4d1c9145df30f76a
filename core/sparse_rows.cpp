#include "core/sparse_rows.h"

#include <algorithm>

namespace peer {

void scatter_rows(std::vector<RowContribution>& c, const float* src, int64_t ld, int64_t w, RowSparseGrad& grad) {
  std::stable_sort(c.begin(), c.end(), [](const RowContribution& a, const RowContribution& b) { return a.row < b.row; });
  std::vector<int64_t> starts;  // first contribution of each distinct row
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
