#include "moe/sparse_moe.h"

#include <algorithm>
#include <cmath>

#include "core/ops/add.h"
#include "core/ops/backend.h"

namespace peer {

SparseMoE::SparseMoE(const std::string& name, int64_t d, const MoEOptions& o, InitScheme init, uint64_t seed,
                     uint64_t stream)
    : router(name + ".router", d, o.router, init, seed, stream),
      experts(name + ".experts", o.router.num_experts, d, o.d_expert, o.activation, init, seed),
      name_(name),
      opt_(o),
      drop_(o.dropout, seed, stream + 1) {
  if (o.num_shared > 0)
    shared = std::make_unique<DenseFFN>(name + ".shared", d, o.num_shared * o.d_expert, o.activation, 0.0f, init,
                                        seed, stream + 2);
  reset_stats();
}

const Tensor& SparseMoE::forward(const Tensor& x, bool train, uint64_t step) {
  const int64_t N = x.dim(0), E = experts.num_experts();
  routing_ = &router.forward(x, train, step);
  const int64_t k = routing_->k;
  int64_t cap = expert_capacity(train ? opt_.capacity_factor : opt_.eval_capacity_factor, N, k, E);
  plan_dispatch(*routing_, E, cap, plan_);
  if (opt_.masked_oracle) {
    require_cpu(x, "[moe.layer masked_oracle]");
    gates_dense_.resize({N, E});
    gates_dense_.zero();
    for (int64_t a = 0; a < N * k; ++a)
      if (plan_.row_of.data_i32()[a] >= 0)
        gates_dense_[(a / k) * E + routing_->expert.data_i32()[a]] = routing_->gate[a];
    const Tensor& y = oracle_.forward(experts, x, gates_dense_);
    y_.copy_from(y);
  } else {
    yg_ = &experts.forward(x, plan_);
    combine_rows(*yg_, &routing_->gate, plan_, k, y_);
  }
  if (shared) add(y_, shared->forward(x, train, step), y_);
  drop_.forward(y_, y_, train, step);
  accumulate_stats();
  return y_;
}

const Tensor& SparseMoE::backward(const Tensor& dy) {
  const int64_t N = dy.dim(0), E = experts.num_experts(), k = routing_->k;
  drop_.backward(dy, dy_);
  if (opt_.masked_oracle) {
    require_cpu(dy, "[moe.layer masked_oracle]");
    const Tensor& dx = oracle_.backward(dy_, dgates_dense_);
    dx_.copy_from(dx);
    dgate_.resize({N * k});
    dgate_.zero();
    for (int64_t a = 0; a < N * k; ++a)
      if (plan_.row_of.data_i32()[a] >= 0) dgate_[a] = dgates_dense_[(a / k) * E + routing_->expert.data_i32()[a]];
  } else {
    combine_rows_backward(dy_, *yg_, routing_->gate, plan_, k, dyg_, dgate_);
    combine_rows(experts.backward(dyg_), nullptr, plan_, k, dx_);
  }
  add(dx_, router.backward(dgate_), dx_);
  if (shared) add(dx_, shared->backward(dy_), dx_);
  return dx_;
}

void SparseMoE::accumulate_stats() {
  const int64_t N = routing_->tokens, E = experts.num_experts();
  assignments_ += double(N * routing_->k);
  tokens_ += double(N);
  forwards_ += 1;
  const Tensor& P = router.probs();
  if (acc_.device() != P.device()) acc_ = acc_.to(P.device());
  if (P.device() == Device::CUDA) return cuda::accumulate_moe_stats(plan_, P, router.state().choice_stats, acc_);
  double* acc = acc_.data_f64();
  const int32_t* offsets = plan_.offsets.data_i32();
  for (int64_t e = 0; e < E; ++e) acc[e] += double(offsets[e + 1] - offsets[e]);
  acc[E + kStatDropped] += double(dropped(plan_));
  for (int64_t i = 0; i < N * E; ++i)
    if (P[i] > 0.0f) acc[E + kStatEntropy] -= double(P[i]) * std::log(double(P[i]));
  const AuxLosses aux = router.aux();
  acc[E + kStatLoadBalance] += aux.load_balance;
  acc[E + kStatImportance] += aux.importance;
  acc[E + kStatZLoss] += aux.z_loss;
}

void SparseMoE::reset_stats() {
  acc_.resize({experts.num_experts() + kStatSlots}, acc_.empty() ? Device::CPU : acc_.device(), DType::F64);
  acc_.zero();
  assignments_ = tokens_ = forwards_ = 0;
}

// One read of the device's accumulators per call (an evaluation), never per step.
void SparseMoE::stats(Stats& out) const {
  if (forwards_ == 0) return;
  const int64_t E = experts.num_experts();
  const Tensor host = acc_.to(Device::CPU);
  const double* acc = host.data_f64();
  double kept = assignments_ - acc[E + kStatDropped];
  std::vector<double> load(E);
  for (int64_t e = 0; e < E; ++e) load[e] = kept > 0 ? acc[e] / kept : 0.0;
  out.push_back({name_ + ".load", load});
  out.push_back({name_ + ".dropped_frac", {acc[E + kStatDropped] / assignments_}});
  out.push_back({name_ + ".router_entropy", {acc[E + kStatEntropy] / tokens_}});
  out.push_back({name_ + ".aux.load_balance", {acc[E + kStatLoadBalance] / forwards_}});
  out.push_back({name_ + ".aux.importance", {acc[E + kStatImportance] / forwards_}});
  out.push_back({name_ + ".aux.z_loss", {acc[E + kStatZLoss] / forwards_}});
}

void SparseMoE::collect_parameters(std::vector<Parameter*>& out) {
  router.collect_parameters(out);
  experts.collect_parameters(out);
  if (shared) shared->collect_parameters(out);
}

}  // namespace peer
