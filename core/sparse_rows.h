// Deterministic scatter-add into rows: the backward of a gather (embedding rows, expert rows,
// sub-keys). Contributions coef * src[s] are grouped by target row (sort, then segment-reduce)
// and summed in their original order, so the result does not depend on the thread count, and
// only touched rows are materialised.
#pragma once

#include <cstdint>
#include <vector>

#include "core/module.h"

namespace peer {

struct RowContribution {
  int32_t row;   // target row
  int32_t src;   // source row index into the source matrix
  float coef;    // scale
};

// src: source matrix with leading dimension ld (width w read from each source row).
// Accumulates into grad (sorted unique rows + values), merging with rows it already holds.
void scatter_rows(std::vector<RowContribution>& contributions, const float* src, int64_t ld, int64_t w,
                  RowSparseGrad& grad);

}  // namespace peer
