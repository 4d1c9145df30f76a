#include "peer/peer_layer.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/ops/backend.h"
#include "core/sparse_rows.h"
#include "core/vec.h"

namespace peer {

namespace {
// Below this many (token, head) rows a parallel region costs more than it saves (and on a
// loaded machine a barrier can wait a whole scheduler slice).
constexpr int64_t kParallelRows = 64;

// Expert rows are read at random: ask for the rows of assignment `a` ahead of time so their
// cache misses overlap with the arithmetic on the current one.
constexpr int64_t kPrefetchAhead = 4;
void prefetch_row(const float* row, int64_t d) {
  for (int64_t i = 0; i < d; i += 16) __builtin_prefetch(row + i);
}
}  // namespace

void PeerLayer::prefetch_expert(int64_t a, int64_t end) const {
  if (a >= end) return;
  const ExpertPool& pool = *pools[pool_[a]];
  prefetch_row(pool.U.value.data() + int64_t(local_[a]) * d_, d_);
  prefetch_row(pool.V.value.data() + int64_t(local_[a]) * d_, d_);
}

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
  usage_.clear();
  return i;
}

int64_t PeerLayer::num_experts() const {
  int64_t n = 0;
  for (const auto& p : pools) n += p->shape.size();
  return n;
}

const Tensor& PeerLayer::forward(const Tensor& x, bool train, uint64_t step) {
  require_cpu(x, "[peer.layer forward]");
  x_ = &x;
  const Tensor& q = query.forward(x);
  q_ = query_bn ? &query_bn->forward(q, train) : &q;
  retrieve(*q_);
  experts_forward(x);
  if (!train) accumulate_usage();
  drop_.forward(y_, y_, train, step);
  return y_;
}

// Top-k per (token, head) in every pool, merged into the global top-k (score desc, global index
// asc), then softmax weights.
void PeerLayer::retrieve(const Tensor& q) {
  require_cpu(q, "[peer.retrieval]");  // product_key_topk reads host memory
  const int64_t Q = q.dim(0) * opt_.heads, k = opt_.top_k, P = int64_t(pools.size());
  pool_.resize(Q * k);
  local_.resize(Q * k);
  global_.resize(Q * k);
  score_.resize(Q * k);
  weight_.resize(Q * k);
  std::vector<std::vector<int32_t>> idx(P);
  std::vector<std::vector<float>> sc(P);
  std::vector<int64_t> kp(P), offset(P + 1, 0);
  for (int64_t p = 0; p < P; ++p) {
    offset[p + 1] = offset[p] + pools[p]->shape.size();
    kp[p] = only_pool < 0 || p == only_pool ? std::min(k, pools[p]->shape.size()) : 0;
    if (kp[p] == 0) continue;
    idx[p].resize(Q * kp[p]);
    sc[p].resize(Q * kp[p]);
    product_key_topk(q.data(), Q, opt_.d_key, pools[p]->keys(), kp[p], idx[p].data(), sc[p].data());
  }
#pragma omp parallel if (Q >= kParallelRows)
  {
    std::vector<std::pair<float, int64_t>> cand;  // (score, global index)
#pragma omp for schedule(static)
    for (int64_t r = 0; r < Q; ++r) {
      cand.clear();
      for (int64_t p = 0; p < P; ++p)
        for (int64_t j = 0; j < kp[p]; ++j) cand.emplace_back(sc[p][r * kp[p] + j], offset[p] + idx[p][r * kp[p] + j]);
      std::partial_sort(cand.begin(), cand.begin() + k, cand.end(), [](const auto& a, const auto& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
      });
      float mx = cand[0].first, sum = 0.0f;
      for (int64_t j = 0; j < k; ++j) {
        int64_t a = r * k + j, g = cand[j].second;
        int64_t p = std::upper_bound(offset.begin(), offset.end(), g) - offset.begin() - 1;
        pool_[a] = int32_t(p);
        local_[a] = int32_t(g - offset[p]);
        global_[a] = int32_t(g);
        score_[a] = cand[j].first;
        sum += (weight_[a] = std::exp(cand[j].first - mx));
      }
      for (int64_t j = 0; j < k; ++j) weight_[r * k + j] /= sum;
    }
  }
}

void PeerLayer::experts_forward(const Tensor& x) {
  const int64_t T = x.dim(0), per_token = opt_.heads * opt_.top_k;
  y_.resize({T, d_});
  pre_.resize(T * per_token);
#pragma omp parallel for schedule(static) if (T * opt_.heads >= kParallelRows)
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x.data() + t * d_;
    float* yt = y_.data() + t * d_;
    std::fill(yt, yt + d_, 0.0f);
    for (int64_t a = t * per_token; a < (t + 1) * per_token; ++a) {
      prefetch_expert(a + kPrefetchAhead, T * per_token);
      const ExpertPool& pool = *pools[pool_[a]];
      const int64_t row = int64_t(local_[a]) * d_;
      pre_[a] = dot(pool.U.value.data() + row, xt, d_);
      axpy(weight_[a] * activation_value(opt_.activation, pre_[a]), pool.V.value.data() + row, yt, d_);
    }
  }
}

const Tensor& PeerLayer::backward(const Tensor& dy_out) {
  require_cpu(dy_out, "[peer.layer backward]");
  drop_.backward(dy_out, dy_);
  const Tensor& dy = dy_;
  const Tensor& x = *x_;
  const int64_t T = x.dim(0), k = opt_.top_k, per_token = opt_.heads * k;
  dx_.resize({T, d_});
  dscore_.resize(T * per_token);
  coef_u_.resize(T * per_token);
  coef_v_.resize(T * per_token);
#pragma omp parallel for schedule(static) if (T * opt_.heads >= kParallelRows)
  for (int64_t t = 0; t < T; ++t) {
    const float* gt = dy.data() + t * d_;
    float* dxt = dx_.data() + t * d_;
    std::fill(dxt, dxt + d_, 0.0f);
    for (int64_t a = t * per_token; a < (t + 1) * per_token; ++a) {
      prefetch_expert(a + kPrefetchAhead, T * per_token);
      const ExpertPool& pool = *pools[pool_[a]];
      const int64_t row = int64_t(local_[a]) * d_;
      const float vd = dot(pool.V.value.data() + row, gt, d_);
      const float act = activation_value(opt_.activation, pre_[a]);
      const float da = weight_[a] * vd * activation_derivative(opt_.activation, pre_[a]);
      axpy(da, pool.U.value.data() + row, dxt, d_);
      coef_u_[a] = da;                // dU[row] += da * x_t
      coef_v_[a] = weight_[a] * act;  // dV[row] += w * act * dy_t
      dscore_[a] = act * vd;          // dL/dw, turned into dL/dscore below
    }
    // Softmax backward per head: ds = w * (dw - sum(w * dw)).
    for (int64_t r = t * opt_.heads; r < (t + 1) * opt_.heads; ++r) {
      float s = 0.0f;
      for (int64_t j = 0; j < k; ++j) s += weight_[r * k + j] * dscore_[r * k + j];
      for (int64_t j = 0; j < k; ++j) dscore_[r * k + j] = weight_[r * k + j] * (dscore_[r * k + j] - s);
    }
  }
  keys_backward(*q_);
  for (int64_t pi = 0; pi < int64_t(pools.size()); ++pi) {
    ExpertPool& pool = *pools[pi];
    if (pool.frozen()) continue;
    contrib_a_.clear();
    contrib_b_.clear();
    for (int64_t a = 0; a < T * per_token; ++a) {
      if (pool_[a] != pi) continue;
      contrib_a_.push_back({local_[a], int32_t(a / per_token), coef_u_[a]});
      contrib_b_.push_back({local_[a], int32_t(a / per_token), coef_v_[a]});
    }
    scatter_rows(contrib_a_, x.data(), d_, d_, pool.U.sparse_grad);
    scatter_rows(contrib_b_, dy.data(), d_, d_, pool.V.sparse_grad);
  }
  const Tensor& dq = query_bn ? query_bn->backward(dq_) : dq_;
  const Tensor& dxq = query.backward(dq);
  for (int64_t i = 0; i < dx_.numel(); ++i) dx_[i] += dxq[i];
  return dx_;
}

// Scores s = q1 . C1[i1] + q2 . C2[i2]: gradients to the queries and to the touched sub-keys.
void PeerLayer::keys_backward(const Tensor& q) {
  const int64_t Q = q.dim(0) * opt_.heads, k = opt_.top_k, dk = opt_.d_key, half = dk / 2;
  dq_.resize(q.shape());
#pragma omp parallel for schedule(static) if (Q >= kParallelRows)
  for (int64_t r = 0; r < Q; ++r) {
    float* dqr = dq_.data() + r * dk;
    std::fill(dqr, dqr + dk, 0.0f);
    for (int64_t a = r * k; a < (r + 1) * k; ++a) {
      const ExpertPool& pool = *pools[pool_[a]];
      const int64_t i1 = local_[a] / pool.shape.n2, i2 = local_[a] % pool.shape.n2;
      axpy(dscore_[a], pool.keys1.value.data() + i1 * half, dqr, half);
      axpy(dscore_[a], pool.keys2.value.data() + i2 * half, dqr + half, half);
    }
  }
  for (int64_t pi = 0; pi < int64_t(pools.size()); ++pi) {
    ExpertPool& pool = *pools[pi];
    if (pool.frozen()) continue;
    contrib_a_.clear();
    contrib_b_.clear();
    for (int64_t a = 0; a < Q * k; ++a) {
      if (pool_[a] != pi) continue;
      contrib_a_.push_back({int32_t(local_[a] / pool.shape.n2), int32_t(a / k), dscore_[a]});
      contrib_b_.push_back({int32_t(local_[a] % pool.shape.n2), int32_t(a / k), dscore_[a]});
    }
    scatter_rows(contrib_a_, q.data(), dk, half, pool.keys1.sparse_grad);
    scatter_rows(contrib_b_, q.data() + half, dk, half, pool.keys2.sparse_grad);
  }
}

void PeerLayer::accumulate_usage() {
  if (usage_.empty()) usage_.assign(num_experts(), 0);
  for (int32_t g : global_) ++usage_[g];
}

void PeerLayer::reset_stats() { usage_.clear(); }

void PeerLayer::stats(Stats& out) const {
  if (usage_.empty()) return;
  double total = 0.0, used = 0.0, kl = 0.0;
  for (int64_t c : usage_) total += double(c);
  if (total == 0.0) return;
  const double N = double(usage_.size());
  std::vector<double> share(pools.size(), 0.0);
  int64_t g = 0;
  for (size_t p = 0; p < pools.size(); ++p)
    for (int64_t i = 0; i < pools[p]->shape.size(); ++i, ++g) {
      if (usage_[g] == 0) continue;
      double pi = double(usage_[g]) / total;
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
