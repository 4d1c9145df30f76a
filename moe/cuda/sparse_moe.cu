// The MoE layer's statistics on the GPU (moe/sparse_moe.h): one block adds a forward's kept rows
// per expert, dropped assignments, router entropy and aux losses to the device accumulators, so a
// training step reads nothing back; SparseMoE::stats() copies them once per evaluation.
#include "core/cuda/check.h"
#include "core/ops/cuda/block_reduce.cuh"
#include "moe/sparse_moe.h"

namespace peer::cuda {

namespace {

// acc (E + kStatSlots): see MoEStatsSlot. offsets (E+1), P (N, E), choice_stats (2E + 3).
__global__ void stats_kernel(const int32_t* offsets, int64_t E, int64_t assignments, const float* P, int64_t N,
                             const double* choice_stats, double* acc) {
  __shared__ double scratch[kReduceThreads];
  double entropy = 0.0;
  for (int64_t i = threadIdx.x; i < N * E; i += kReduceThreads)
    if (P[i] > 0.0f) entropy -= double(P[i]) * log(double(P[i]));
  entropy = block_sum(entropy, scratch);
  for (int64_t e = threadIdx.x; e < E; e += kReduceThreads) acc[e] += double(offsets[e + 1] - offsets[e]);
  if (threadIdx.x != 0) return;
  acc[E + kStatDropped] += double(assignments - offsets[E]);
  acc[E + kStatEntropy] += entropy;
  for (int64_t i = 0; i < 3; ++i) acc[E + kStatLoadBalance + i] += choice_stats[2 * E + i];
}

}  // namespace

void accumulate_moe_stats(const DispatchPlan& p, const Tensor& probs, const Tensor& choice_stats, Tensor& acc) {
  stats_kernel<<<1, kReduceThreads>>>(p.offsets.data_i32(), p.num_experts, p.row_of.numel(), probs.data(),
                                      probs.dim(0), choice_stats.data_f64(), acc.data_f64());
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
