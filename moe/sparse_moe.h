// Sparse Mixture-of-Experts FFN slot: router -> capacity-limited dispatch -> per-expert GEMMs
// over only their tokens -> gate-weighted combine (+ optional shared experts every token uses,
// DeepSeekMoE style) -> dropout. Aux losses are added to the objective and their gradients
// injected in backward. `masked_oracle` swaps the dispatch/combine for the every-expert-on-
// every-token oracle (same router and capacity decisions), for tests and benchmarks (CPU only).
// The layer runs on its input's device; on a GPU a step reads nothing back to the host, and the
// statistics accumulate in device memory until stats() reads them.
#pragma once

#include <memory>

#include "core/nn/dropout.h"
#include "core/nn/ffn_slot.h"
#include "moe/dense_ffn.h"
#include "moe/masked_experts_oracle.h"
#include "moe/dispatch.h"
#include "moe/experts.h"
#include "moe/router.h"

namespace peer {

struct MoEOptions {
  RouterOptions router;
  int64_t d_expert = 512;
  Activation activation = Activation::ReLU;
  double capacity_factor = 1.25;       // training; 0 = dropless
  double eval_capacity_factor = 2.0;   // evaluation; 0 = dropless
  int64_t num_shared = 0;              // shared experts of hidden d_expert each
  float dropout = 0.0f;
  bool masked_oracle = false;
};

class SparseMoE : public FfnSlot {
 public:
  SparseMoE(const std::string& name, int64_t d, const MoEOptions& o, InitScheme init, uint64_t seed, uint64_t stream);
  const Tensor& forward(const Tensor& x, bool train, uint64_t step) override;
  const Tensor& backward(const Tensor& dy) override;
  void collect_parameters(std::vector<Parameter*>& out) override;
  double aux_loss() const override { return router.aux().total(); }
  void stats(Stats& out) const override;
  void reset_stats() override;

  const DispatchPlan& plan() const { return plan_; }

  Router router;
  ExpertMLPs experts;
  std::unique_ptr<DenseFFN> shared;

 private:
  void accumulate_stats();

  std::string name_;
  MoEOptions opt_;
  Dropout drop_;
  MaskedExpertsOracle oracle_;
  DispatchPlan plan_;
  const Routing* routing_ = nullptr;
  const Tensor* yg_ = nullptr;  // (rows, d) expert outputs, grouped
  Tensor gates_dense_, dgates_dense_;  // (N, E) masked_oracle mode only
  Tensor y_, dy_, dyg_, dx_;  // dy_: the gradient through the dropout
  Tensor dgate_;              // (N*k)
  // Accumulated since reset_stats(), on the layer's device: (E + 5) f64, kMoEStats* below.
  Tensor acc_;
  double assignments_ = 0, tokens_ = 0, forwards_ = 0;
};

// The layout of SparseMoE's accumulated statistics: kept rows per expert (E), then these.
enum MoEStatsSlot : int64_t { kStatDropped, kStatEntropy, kStatLoadBalance, kStatImportance, kStatZLoss, kStatSlots };

namespace cuda {
// acc (E + kStatSlots) f64 += one forward's: kept rows per expert and dropped assignments (from
// p.offsets), the router entropy summed over tokens (from probs (N, E)) and the aux losses (from
// choice_stats, moe/router.h). moe/cuda/sparse_moe.cu.
void accumulate_moe_stats(const DispatchPlan& p, const Tensor& probs, const Tensor& choice_stats, Tensor& acc);
}  // namespace cuda

}  // namespace peer
