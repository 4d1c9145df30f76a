#include "moe/sparse_moe.h"

#include <algorithm>
#include <cmath>

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
  require_cpu(x, "[moe.layer forward]");
  const int64_t N = x.dim(0), d = x.dim(1), E = experts.num_experts();
  routing_ = &router.forward(x, train, step);
  int64_t cap = expert_capacity(train ? opt_.capacity_factor : opt_.eval_capacity_factor, N, routing_->k, E);
  plan_ = plan_dispatch(*routing_, E, cap);
  y_.resize({N, d});
  if (opt_.masked_oracle) {
    gates_dense_.resize({N, E});
    gates_dense_.zero();
    for (int64_t a = 0; a < N * routing_->k; ++a)
      if (plan_.row_of[a] >= 0) gates_dense_[(a / routing_->k) * E + routing_->expert[a]] = routing_->gate[a];
    const Tensor& y = oracle_.forward(experts, x, gates_dense_);
    y_.copy_from(y);
  } else {
    yg_ = &experts.forward(x, plan_);
    combine(*yg_, true, y_);
  }
  if (shared) {
    const Tensor& s = shared->forward(x, train, step);
    for (int64_t i = 0; i < N * d; ++i) y_[i] += s[i];
  }
  drop_.forward(y_, y_, train, step);
  accumulate_stats();
  return y_;
}

// out[t] = sum over t's kept choices of (gate, or 1) * grouped row: the combine of expert outputs
// and the gather of input gradients (token-parallel: no write conflicts, fixed order).
void SparseMoE::combine(const Tensor& grouped, bool weighted, Tensor& out) const {
  const int64_t N = out.dim(0), d = out.dim(1), k = routing_->k;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < N; ++t) {
    float* o = out.data() + t * d;
    std::fill(o, o + d, 0.0f);
    for (int64_t s = 0; s < k; ++s) {
      int64_t row = plan_.row_of[t * k + s];
      if (row < 0) continue;
      const float g = weighted ? routing_->gate[t * k + s] : 1.0f, *src = grouped.data() + row * d;
      for (int64_t j = 0; j < d; ++j) o[j] += g * src[j];
    }
  }
}

const Tensor& SparseMoE::backward(const Tensor& dy) {
  require_cpu(dy, "[moe.layer backward]");
  const int64_t N = dy.dim(0), d = dy.dim(1), E = experts.num_experts(), k = routing_->k;
  drop_.backward(dy, dy_);
  dgate_.assign(N * k, 0.0f);
  dx_.resize({N, d});
  if (opt_.masked_oracle) {
    const Tensor& dx = oracle_.backward(dy_, dgates_dense_);
    dx_.copy_from(dx);
    for (int64_t a = 0; a < N * k; ++a)
      if (plan_.row_of[a] >= 0) dgate_[a] = dgates_dense_[(a / k) * E + routing_->expert[a]];
  } else {
    dyg_.resize({plan_.rows(), d});
#pragma omp parallel for schedule(static)
    for (int64_t t = 0; t < N; ++t) {
      const float* g = dy_.data() + t * d;
      for (int64_t s = 0; s < k; ++s) {
        int64_t row = plan_.row_of[t * k + s];
        if (row < 0) continue;
        const float gate = routing_->gate[t * k + s], *yrow = yg_->data() + row * d;
        float* drow = dyg_.data() + row * d;
        float dot = 0.0f;
        for (int64_t j = 0; j < d; ++j) {
          dot += g[j] * yrow[j];
          drow[j] = gate * g[j];
        }
        dgate_[t * k + s] = dot;
      }
    }
    combine(experts.backward(dyg_), false, dx_);
  }
  const Tensor& dxr = router.backward(dgate_);
  for (int64_t i = 0; i < N * d; ++i) dx_[i] += dxr[i];
  if (shared) {
    const Tensor& dxs = shared->backward(dy_);
    for (int64_t i = 0; i < N * d; ++i) dx_[i] += dxs[i];
  }
  return dx_;
}

void SparseMoE::accumulate_stats() {
  const int64_t N = routing_->tokens, E = experts.num_experts();
  for (int64_t e = 0; e < E; ++e) load_[e] += double(plan_.offsets[e + 1] - plan_.offsets[e]);
  assignments_ += double(N * routing_->k);
  dropped_ += double(plan_.dropped);
  const Tensor& P = router.probs();
  for (int64_t i = 0; i < N * E; ++i)
    if (P[i] > 0.0f) entropy_sum_ -= double(P[i]) * std::log(double(P[i]));
  tokens_ += double(N);
  forwards_ += 1;
  aux_sum_.load_balance += router.aux().load_balance;
  aux_sum_.importance += router.aux().importance;
  aux_sum_.z_loss += router.aux().z_loss;
}

void SparseMoE::reset_stats() {
  load_.assign(experts.num_experts(), 0.0);
  assignments_ = dropped_ = entropy_sum_ = tokens_ = forwards_ = 0;
  aux_sum_ = {};
}

void SparseMoE::stats(Stats& out) const {
  if (forwards_ == 0) return;
  double kept = assignments_ - dropped_;
  std::vector<double> load(load_.size());
  for (size_t e = 0; e < load.size(); ++e) load[e] = kept > 0 ? load_[e] / kept : 0.0;
  out.push_back({name_ + ".load", load});
  out.push_back({name_ + ".dropped_frac", {dropped_ / assignments_}});
  out.push_back({name_ + ".router_entropy", {entropy_sum_ / tokens_}});
  out.push_back({name_ + ".aux.load_balance", {aux_sum_.load_balance / forwards_}});
  out.push_back({name_ + ".aux.importance", {aux_sum_.importance / forwards_}});
  out.push_back({name_ + ".aux.z_loss", {aux_sum_.z_loss / forwards_}});
}

void SparseMoE::collect_parameters(std::vector<Parameter*>& out) {
  router.collect_parameters(out);
  experts.collect_parameters(out);
  if (shared) shared->collect_parameters(out);
}

}  // namespace peer
