// Sparse dispatch plan: which (token, choice) assignments each expert processes, grouped so that
// every expert runs one GEMM over only its own tokens.
//
// Capacity: an expert accepts at most `capacity` assignments (0 = dropless). Assignments claim
// slots in router-priority order: all first choices before all second choices (rank s), within a
// rank by gate (highest first), ties by token index. Dropped assignments contribute nothing, so
// a token whose every choice was dropped passes through the block by its residual only.
// Within an expert, rows are ordered by token index, so the plan is deterministic.
#pragma once

#include <cstdint>
#include <vector>

#include "moe/router.h"

namespace peer {

struct DispatchPlan {
  int64_t num_experts = 0, capacity = 0;
  std::vector<int64_t> offsets;   // (E+1): expert e owns grouped rows [offsets[e], offsets[e+1])
  std::vector<int32_t> token;     // (rows) source token of each grouped row
  std::vector<int32_t> row_of;    // (N*k) grouped row of assignment a = t*k+s, -1 when dropped
  int64_t dropped = 0;            // dropped assignments
  int64_t rows() const { return int64_t(token.size()); }
};

// capacity = ceil(capacity_factor * tokens * k / E); capacity_factor 0 = dropless.
int64_t expert_capacity(double capacity_factor, int64_t tokens, int64_t k, int64_t num_experts);

DispatchPlan plan_dispatch(const Routing& r, int64_t num_experts, int64_t capacity);

}  // namespace peer
