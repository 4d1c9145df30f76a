// Sparse dispatch plan: which (token, choice) assignments each expert processes, grouped so that
// every expert runs one GEMM over only its own tokens; and the two data movements around the
// experts: dispatch (token rows -> grouped rows) and the gate-weighted combine (grouped rows ->
// token rows), with their gradients.
//
// Capacity: an expert accepts at most `capacity` assignments (0 = dropless). Assignments claim
// slots in router-priority order: all first choices before all second choices (rank s), within a
// rank by gate (highest first), ties by token index. Dropped assignments contribute nothing, so
// a token whose every choice was dropped passes through the block by its residual only.
// Within an expert, rows are ordered by token index, so the plan is deterministic.
//
// A plan lives on its routing's device. On the GPU (moe/cuda/dispatch.cu) the plan is made without
// a host round trip: its buffers have N*k rows (the most there can be) and offsets[E], on the
// device, says how many are used; kernels read the counts there.
#pragma once

#include <cstdint>
#include <vector>

#include "moe/router.h"

namespace peer {

// Rows of a CUDA plan's tiles (see DispatchPlan::tiles).
constexpr int64_t kPlanTileRows = 64;

struct DispatchPlan {
  int64_t num_experts = 0, capacity = 0;
  Tensor offsets;  // (E+1) i32: expert e owns grouped rows [offsets[e], offsets[e+1])
  Tensor token;    // (rows) i32 source token of each grouped row
  Tensor row_of;   // (N*k) i32 grouped row of assignment a = t*k+s, -1 when dropped
  // CUDA plans: (ceil(N*k / kPlanTileRows) + E, 2) i32, (expert, first row) of each block of at
  // most kPlanTileRows rows of one expert, in row order; expert -1 in the unused slots.
  Tensor tiles;
  // Grouped rows the buffers hold: the kept assignments on the CPU, N*k on CUDA.
  int64_t rows() const { return token.numel(); }
};

// capacity = ceil(capacity_factor * tokens * k / E); capacity_factor 0 = dropless.
int64_t expert_capacity(double capacity_factor, int64_t tokens, int64_t k, int64_t num_experts);

// The plan on the routing's device.
void plan_dispatch(const Routing& r, int64_t num_experts, int64_t capacity, DispatchPlan& p);
DispatchPlan plan_dispatch(const Routing& r, int64_t num_experts, int64_t capacity);
// Dropped assignments (read from the device on a GPU: this waits for it).
int64_t dropped(const DispatchPlan& p);

// xg (rows, d) = x[token[row]]: x (N, d).
void dispatch_rows(const Tensor& x, const DispatchPlan& p, Tensor& xg);
// y (N, d) = sum over token t's kept choices s, in order, of gate[t*k+s] * grouped[row_of[t*k+s]]
// (gate null: weight 1, which is also dispatch_rows' backward). grouped (rows, d), gate (N*k).
void combine_rows(const Tensor& grouped, const Tensor* gate, const DispatchPlan& p, int64_t k, Tensor& y);
// The weighted combine's backward: dgrouped[row_of[a]] = gate[a] * dy[t] and dgate[a] =
// dy[t] . grouped[row_of[a]] (0 when dropped). dy (N, d) -> dgrouped (rows, d), dgate (N*k).
void combine_rows_backward(const Tensor& dy, const Tensor& grouped, const Tensor& gate, const DispatchPlan& p,
                           int64_t k, Tensor& dgrouped, Tensor& dgate);

namespace cuda {
// The same on CUDA tensors (moe/cuda/dispatch.cu, moe/cuda/combine.cu).
void plan_dispatch(const Routing& r, int64_t num_experts, int64_t capacity, DispatchPlan& p);
void dispatch_rows(const Tensor& x, const DispatchPlan& p, Tensor& xg);
void combine_rows(const Tensor& grouped, const Tensor* gate, const DispatchPlan& p, int64_t k, Tensor& y);
void combine_rows_backward(const Tensor& dy, const Tensor& grouped, const Tensor& gate, const DispatchPlan& p,
                           int64_t k, Tensor& dgrouped, Tensor& dgate);
}  // namespace cuda

}  // namespace peer
