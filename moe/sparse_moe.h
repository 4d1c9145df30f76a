// Sparse Mixture-of-Experts FFN slot: router -> capacity-limited dispatch -> per-expert GEMMs
// over only their tokens -> gate-weighted combine (+ optional shared experts every token uses,
// DeepSeekMoE style) -> dropout. Aux losses are added to the objective and their gradients
// injected in backward. `masked_oracle` swaps the dispatch/combine for the every-expert-on-
// every-token oracle (same router and capacity decisions), for tests and benchmarks.
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
  void combine(const Tensor& grouped, bool weighted, Tensor& out) const;
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
  std::vector<float> dgate_;
  // Accumulated since reset_stats().
  std::vector<double> load_;
  double assignments_ = 0, dropped_ = 0, entropy_sum_ = 0, tokens_ = 0, forwards_ = 0;
  AuxLosses aux_sum_;
};

}  // namespace peer
