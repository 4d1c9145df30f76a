#include "peer/peer_layer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/ops/add.h"

namespace peer {

float default_key_init_std(int64_t d_key) { return 1.0f / std::sqrt(float(d_key / 2)); }
float default_expert_init_std(int64_t d) { return 1.0f / std::sqrt(float(d)); }

PeerLayer::PeerLayer(const std::string& name, int64_t d, const PeerOptions& o, PoolShape first_pool,
                     InitScheme init, uint64_t seed, uint64_t stream)
    : query(name + ".query", d, o.heads * o.d_key, false),
      name_(name),
      d_(d),
      opt_(o),
      seed_(seed),
      drop_(o.dropout, seed, stream) {
  if (o.heads < 1 || o.d_key < 2 || o.d_key % 2 != 0 || o.top_k < 1)
    throw std::invalid_argument("[peer] needs heads >= 1, an even d_key and top_k >= 1");
  if (opt_.key_init_std <= 0.0f) opt_.key_init_std = default_key_init_std(o.d_key);
  if (opt_.expert_init_std <= 0.0f) opt_.expert_init_std = default_expert_init_std(d);
  query.init(init, seed);
  if (o.query_batchnorm) query_bn = std::make_unique<BatchNorm1d>(name + ".query_bn", o.heads * o.d_key);
  add_pool(first_pool);
}

int64_t PeerLayer::add_pool(PoolShape shape) {
  if (shape.n1 < 1 || shape.n2 < 1) throw std::invalid_argument("[peer] pool sides must be >= 1");
  int64_t i = int64_t(pools.size());
  pools.push_back(std::make_unique<ExpertPool>(name_ + ".pools." + std::to_string(i), shape, d_, opt_.d_key,
                                               opt_.key_init_std, opt_.expert_init_std, seed_));
  if (num_experts() < opt_.top_k) throw std::invalid_argument("[peer] top_k exceeds the number of experts");
  usage_ = Tensor();
  return i;
}

int64_t PeerLayer::num_experts() const {
  int64_t n = 0;
  for (const auto& p : pools) n += p->shape.size();
  return n;
}

const Tensor& PeerLayer::forward(const Tensor& x, bool train, uint64_t step) {
  x_ = &x;
  const Tensor& q = query.forward(x);
  q_ = query_bn ? &query_bn->forward(q, train) : &q;
  retrieve(*q_);
  experts_forward(tables(), x, pool_, local_, weight_, opt_.heads * opt_.top_k, opt_.activation, pre_, y_);
  if (!train) {
    usage_ = usage_.empty() ? Tensor({num_experts()}, x.device(), DType::I32) : usage_.to(x.device());
    count_usage(global_, usage_);
  }
  drop_.forward(y_, y_, train, step);
  return y_;
}

namespace {
// The queries (T, h*d_key) as (T*h, d_key) rows, one per (token, head): the same storage.
Tensor query_rows(const Tensor& q, int64_t d_key) {
  Tensor rows = q;
  rows.resize({q.numel() / d_key, d_key});
  return rows;
}
}  // namespace

// Top-k per (token, head) in every pool, merged into the global top-k (score desc, global index
// asc), then softmax weights.
void PeerLayer::retrieve(const Tensor& q) {
  const int64_t k = opt_.top_k, P = int64_t(pools.size());
  const Tensor rows = query_rows(q, opt_.d_key);
  pool_index_.resize(P);
  pool_score_.resize(P);
  std::vector<int64_t> offset(P + 1, 0);
  for (int64_t p = 0; p < P; ++p) {
    const int64_t kp = only_pool < 0 || p == only_pool ? std::min(k, pools[p]->shape.size()) : 0;
    if (kp > 0) {
      product_key_topk(rows, pools[p]->keys(), kp, pool_index_[p], pool_score_[p]);
    } else {  // the oracle (only_pool) routes to one pool: the others offer no candidates
      pool_index_[p].resize({rows.dim(0), 0}, rows.device(), DType::I32);
      pool_score_[p].resize({rows.dim(0), 0}, rows.device());
    }
    offset[p + 1] = offset[p] + pools[p]->shape.size();
  }
  merge_pools(pool_index_, pool_score_, offset, k, pool_, local_, global_, score_, weight_);
}

const Tensor& PeerLayer::backward(const Tensor& dy_out) {
  drop_.backward(dy_out, dy_);
  const Tensor& x = *x_;
  const int64_t T = x.dim(0), k = opt_.top_k, per_token = opt_.heads * k;
  const std::vector<PoolTable> t = tables();
  experts_backward(t, dy_, pool_, local_, weight_, pre_, per_token, k, opt_.activation, dx_, coef_u_, coef_v_,
                   dscore_);
  keys_backward(t, pool_, local_, dscore_, T * opt_.heads, k, opt_.d_key, dq_);
  dq_.resize(q_->shape());  // (T*h, d_key) rows -> (T, h*d_key), the same storage
  const Tensor rows = query_rows(*q_, opt_.d_key);
  for (int64_t pi = 0; pi < int64_t(pools.size()); ++pi) {
    ExpertPool& pool = *pools[pi];
    if (pool.frozen()) continue;
    pool_grads(int32_t(pi), t[pi], pool_, local_, coef_u_, coef_v_, dscore_, x, dy_, rows, per_token, k,
               {&pool.U.sparse_grad, &pool.V.sparse_grad, &pool.keys1.sparse_grad, &pool.keys2.sparse_grad});
  }
  const Tensor& dq = query_bn ? query_bn->backward(dq_) : dq_;
  add(dx_, query.backward(dq), dx_);
  return dx_;
}

std::vector<PoolTable> PeerLayer::tables() const {
  std::vector<PoolTable> out;
  for (const auto& p : pools)
    out.push_back({p->U.value.data(), p->V.value.data(), p->keys1.value.data(), p->keys2.value.data(), p->shape.n1,
                   p->shape.n2});
  return out;
}

std::vector<int32_t> PeerLayer::retrieved() const {
  const Tensor h = global_.to(Device::CPU);
  return std::vector<int32_t>(h.data_i32(), h.data_i32() + h.numel());
}

std::vector<float> PeerLayer::scores() const {
  const Tensor h = score_.to(Device::CPU);
  return std::vector<float>(h.data(), h.data() + h.numel());
}

void PeerLayer::reset_stats() { usage_ = Tensor(); }

void PeerLayer::stats(Stats& out) const {
  if (usage_.empty()) return;
  const Tensor host = usage_.to(Device::CPU);  // the one copy from a GPU per logged step
  const int32_t* usage = host.data_i32();
  double total = 0.0, used = 0.0, kl = 0.0;
  for (int64_t i = 0; i < host.numel(); ++i) total += double(usage[i]);
  if (total == 0.0) return;
  const double N = double(host.numel());
  std::vector<double> share(pools.size(), 0.0);
  int64_t g = 0;
  for (size_t p = 0; p < pools.size(); ++p)
    for (int64_t i = 0; i < pools[p]->shape.size(); ++i, ++g) {
      if (usage[g] == 0) continue;
      double pi = double(usage[g]) / total;
      used += 1.0;
      kl += pi * std::log(pi * N);
      share[p] += pi;
    }
  out.push_back({name_ + ".usage_frac", {used / N}});
  out.push_back({name_ + ".usage_kl", {kl}});
  out.push_back({name_ + ".pool_share", share});
}

void PeerLayer::collect_parameters(std::vector<Parameter*>& out) {
  query.collect_parameters(out);
  if (query_bn) query_bn->collect_parameters(out);
  for (auto& p : pools) p->collect_parameters(out);
}

}  // namespace peer
