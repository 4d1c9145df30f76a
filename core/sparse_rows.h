// Deterministic scatter-add into rows: the backward of a gather (embedding rows, expert rows,
// sub-keys). Contributions coef * src[s] are grouped by target row (sort, then segment-reduce)
// and summed in their original order, so the result does not depend on the thread count, and
// only touched rows are materialised. The CUDA version does the same with a stable radix sort
// (CUB) by row and a block per row summing its contributions in order: no float atomics, the
// same bits run after run.
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

namespace cuda {
// Device arrays: contribution i < n adds coef[i] * src[(i / group) * ld + (0..w)] to row target[i]
// of a (num_rows, w) table; target -1 (or any row outside the table) adds nothing. Accumulates
// into grad in its device layout (core/module.h): slots = min(n + the slots grad held, num_rows);
// rows a gradient already held are summed before the new contributions. Nothing is read back to
// the host.
void scatter_rows(const int32_t* target, const float* coef, int64_t n, int64_t group, const float* src, int64_t ld,
                  int64_t w, int64_t num_rows, RowSparseGrad& grad);
}  // namespace cuda

}  // namespace peer
