// The AdamW update (the op of core/optim/adamw.h). The element update is adamw_math.h;
// ops/cuda/adamw.cu is the CUDA implementation. Pointers are on device d, the device of the
// parameters and moments.
#pragma once

#include <cstdint>
#include <vector>

#include "core/allocator.h"
#include "core/ops/adamw_math.h"

namespace peer {

// n elements of one parameter: weights w, gradient g, moments m, v (n each); wd its weight decay.
struct AdamWSpan {
  float* w;
  const float* g;
  float* m;
  float* v;
  int64_t n;
  float wd;
};

// Dense AdamW over every span at once. CPU: fixed chunks of all spans in one parallel loop;
// CUDA: one launch per 64 spans.
void adamw_update(Device d, const std::vector<AdamWSpan>& spans, AdamWStep s);

// Row-sparse AdamW of a (rows, width) parameter w with moments m, v (rows, width); its gradient
// holds k rows: touched (k) sorted unique row indices, g (k, width). lazy: only the touched rows
// move; otherwise every row, with a zero gradient where it has none (see core/optim/adamw.h).
// CUDA: touched may end in padding (RowSparseGrad::kPadRow, rows >= `rows`), which is skipped.
void adamw_update_rows(Device d, float* w, float* m, float* v, int64_t rows, int64_t width, const int32_t* touched,
                       const float* g, int64_t k, float wd, bool lazy, AdamWStep s);

namespace cuda {
// The same on device memory.
void adamw_update(const std::vector<AdamWSpan>& spans, AdamWStep s);
void adamw_update_rows(float* w, float* m, float* v, int64_t rows, int64_t width, const int32_t* touched,
                       const float* g, int64_t k, float wd, bool lazy, AdamWStep s);
}  // namespace cuda

}  // namespace peer
