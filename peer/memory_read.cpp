#include "peer/memory_read.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "core/nn/init.h"
#include "core/ops/backend.h"
#include "core/ops/layernorm_math.h"
#include "core/ops/softmax_math.h"
#include "core/vec.h"
#include "peer/peer_layer.h"
#include "peer/usage_stats.h"

namespace peer {

// qk-normalisation (Memory+, Berges et al. 2024, after the qk-norm of Dehghani et al. 2023):
// each query half q1, q2 goes through one LayerNorm of width d_key/2 (learned scale and shift,
// shared by heads and halves), and every sub-key row is normalised to zero mean and unit
// variance, then scaled by (d_key/2)^-1/2, so a half-score q1 . C1[i] starts near N(0, 1). Both
// are per-row maps, so retrieval stays exact product-key top-k over the normalised tables and a
// sub-key row's gradient needs only that row: the key gradient stays row-sparse.

namespace {
constexpr int64_t kParallelRows = 64;  // (token, head) rows below which a parallel region costs more
constexpr float kKeyEps = 1e-5f;       // the key normalisation's variance epsilon

// Sets of sub-keys: one per head, or one all heads share.
int64_t key_sets(const MemoryOptions& o) { return o.shared_keys ? 1 : o.heads; }
}  // namespace

MemoryValues::MemoryValues(const std::string& name, PoolShape s, int64_t width, uint64_t seed)
    : shape(s), values(Parameter::row_sparse(name + ".values", {s.size(), width}, false)) {
  if (s.n1 < 1 || s.n2 < 1 || width < 1) throw std::invalid_argument("[pkm.values] needs n1, n2, width >= 1");
  init_normal(values, 1.0f / std::sqrt(float(width)), seed);
}

MemoryRead::MemoryRead(const std::string& name, int64_t d, const MemoryOptions& o, std::shared_ptr<MemoryValues> mem,
                       bool lists_values, InitScheme init, uint64_t seed)
    : query(name + ".query", d, o.heads * o.d_key, false),
      keys1(Parameter::row_sparse(name + ".keys1", {key_sets(o) * mem->shape.n1, o.d_key / 2}, false)),
      keys2(Parameter::row_sparse(name + ".keys2", {key_sets(o) * mem->shape.n2, o.d_key / 2}, false)),
      memory(std::move(mem)),
      opt_(o),
      lists_values_(lists_values) {
  if (o.heads < 1 || o.d_key < 2 || o.d_key % 2 != 0 || o.top_k < 1 || (o.qk_norm && o.d_key < 4))
    throw std::invalid_argument("[pkm] needs heads >= 1, an even d_key (>= 4 with qk_norm) and top_k >= 1");
  if (o.top_k > memory->shape.size()) throw std::invalid_argument("[pkm] top_k exceeds the number of memory rows");
  query.init(init, seed);
  init_normal(keys1, default_key_init_std(o.d_key), seed);
  init_normal(keys2, default_key_init_std(o.d_key), seed);
  const int64_t half = o.d_key / 2;
  if (o.query_batchnorm) query_bn = std::make_unique<BatchNorm1d>(name + ".query_bn", o.heads * o.d_key);
  if (o.qk_norm) {
    query_norm = std::make_unique<LayerNorm>(name + ".query_norm", half);
    key_scale_.assign(half, 1.0f / std::sqrt(float(half)));
    key_shift_.assign(half, 0.0f);
  }
}

void MemoryRead::collect_parameters(std::vector<Parameter*>& out) {
  query.collect_parameters(out);
  if (query_bn) query_bn->collect_parameters(out);
  if (query_norm) query_norm->collect_parameters(out);
  out.push_back(&keys1);
  out.push_back(&keys2);
  if (lists_values_) memory->collect_parameters(out);
}

KeyTables MemoryRead::head_keys(int64_t head) const {
  const int64_t half = opt_.d_key / 2, set = opt_.shared_keys ? 0 : head, n1 = memory->shape.n1, n2 = memory->shape.n2;
  const float* c1 = query_norm ? norm1_.data() : keys1.value.data();
  const float* c2 = query_norm ? norm2_.data() : keys2.value.data();
  return {c1 + set * n1 * half, c2 + set * n2 * half, n1, n2, half};
}

const Tensor& MemoryRead::forward(const Tensor& x, bool train) {
  require_cpu(x, "[pkm.memory forward]");
  const Tensor& q = queries(x, train);
  if (query_norm) normalise_keys();
  retrieve(q);
  const int64_t T = x.dim(0), per_token = opt_.heads * opt_.top_k, w = value_dim();
  const float* V = memory->values.value.data();
  y_.resize({T, w});
#pragma omp parallel for schedule(static) if (T * opt_.heads >= kParallelRows)
  for (int64_t t = 0; t < T; ++t) {
    float* yt = y_.data() + t * w;
    std::fill(yt, yt + w, 0.0f);
    for (int64_t a = t * per_token; a < (t + 1) * per_token; ++a) axpy(weight_[a], V + int64_t(index_[a]) * w, yt, w);
  }
  if (!train) {
    if (usage_.empty()) usage_.assign(memory->shape.size(), 0);
    for (int32_t i : index_) ++usage_[i];
  }
  return y_;
}

// q = query(x), then BatchNorm, then the query halves' LayerNorm (read as rows of d_key/2).
const Tensor& MemoryRead::queries(const Tensor& x, bool train) {
  const Tensor* q = &query.forward(x);
  if (query_bn) q = &query_bn->forward(*q, train);
  if (query_norm) {
    const int64_t half = opt_.d_key / 2;
    q_split_.copy_from(*q);
    q_split_.resize({q->numel() / half, half});  // same elements, one query half a row
    q = &query_norm->forward(q_split_);
  }
  return *(q_ = q);
}

void MemoryRead::normalise_keys() {
  const int64_t half = opt_.d_key / 2;
  auto normalise = [&](const Parameter& keys, Tensor& out, std::vector<float>& mean, std::vector<float>& rstd) {
    const int64_t rows = keys.value.dim(0);
    out.resize({rows, half});
    mean.resize(rows);
    rstd.resize(rows);
#pragma omp parallel for schedule(static) if (rows >= 1024)
    for (int64_t r = 0; r < rows; ++r)
      layernorm_row_forward(keys.value.data() + r * half, key_scale_.data(), key_shift_.data(), half, kKeyEps,
                            out.data() + r * half, mean[r], rstd[r]);
  };
  normalise(keys1, norm1_, mean1_, rstd1_);
  normalise(keys2, norm2_, mean2_, rstd2_);
}

// Per head: exact product-key top-k (score descending, ties by row ascending), then softmax.
void MemoryRead::retrieve(const Tensor& q) {
  const int64_t H = opt_.heads, k = opt_.top_k, dk = opt_.d_key, T = q.numel() / (H * dk);
  index_.resize(T * H * k);
  score_.resize(T * H * k);
  weight_.resize(T * H * k);
  if (opt_.shared_keys) {  // one key set: all (token, head) queries in one batch, rows t*H + head
    product_key_topk(q.data(), T * H, dk, head_keys(0), k, index_.data(), score_.data());
  } else {
    std::vector<int32_t> index(T * k);
    std::vector<float> score(T * k);
    for (int64_t head = 0; head < H; ++head) {
      product_key_topk(q.data() + head * dk, T, H * dk, head_keys(head), k, index.data(), score.data());
      for (int64_t t = 0; t < T; ++t) {
        std::copy_n(index.data() + t * k, k, index_.data() + (t * H + head) * k);
        std::copy_n(score.data() + t * k, k, score_.data() + (t * H + head) * k);
      }
    }
  }
  for (int64_t r = 0; r < T * H; ++r) softmax_row(score_.data() + r * k, 1.0f, k, weight_.data() + r * k);
}

const Tensor& MemoryRead::backward(const Tensor& dy) {
  require_cpu(dy, "[pkm.memory backward]");
  const int64_t T = dy.dim(0), H = opt_.heads, k = opt_.top_k, per_token = H * k, w = value_dim();
  const float* V = memory->values.value.data();
  dscore_.resize(T * per_token);
#pragma omp parallel for schedule(static) if (T * H >= kParallelRows)
  for (int64_t t = 0; t < T; ++t) {
    const float* gt = dy.data() + t * w;
    for (int64_t a = t * per_token; a < (t + 1) * per_token; ++a) dscore_[a] = dot(V + int64_t(index_[a]) * w, gt, w);
    // Softmax backward per head: ds = w * (dw - sum(w * dw)).
    for (int64_t r = t * H; r < (t + 1) * H; ++r) {
      float s = 0.0f;
      for (int64_t j = 0; j < k; ++j) s += weight_[r * k + j] * dscore_[r * k + j];
      for (int64_t j = 0; j < k; ++j) dscore_[r * k + j] = weight_[r * k + j] * (dscore_[r * k + j] - s);
    }
  }
  Parameter& values = memory->values;
  if (!values.frozen) {  // dvalues[row] += w * dy_t; into whatever other layers sharing it added
    contrib_.clear();
    for (int64_t a = 0; a < T * per_token; ++a) contrib_.push_back({index_[a], int32_t(a / per_token), weight_[a]});
    scatter_rows(contrib_, dy.data(), w, w, values.sparse_grad);
  }
  keys_backward(*q_);
  const Tensor* dq = &dq_;
  if (query_norm) {
    dq_full_.copy_from(query_norm->backward(dq_));
    dq_full_.resize({T, H * opt_.d_key});
    dq = &dq_full_;
  }
  if (query_bn) dq = &query_bn->backward(*dq);
  return query.backward(*dq);
}

// Scores s = q1 . C1[i1] + q2 . C2[i2] (C: the head's sub-keys, normalised under qk_norm):
// gradients to the queries (dq_, q's layout) and to the retrieved sub-key rows.
void MemoryRead::keys_backward(const Tensor& q) {
  const int64_t H = opt_.heads, k = opt_.top_k, dk = opt_.d_key, half = dk / 2, Q = q.numel() / dk;
  const int64_t n1 = memory->shape.n1, n2 = memory->shape.n2;
  dq_.resize(q.shape());
#pragma omp parallel for schedule(static) if (Q >= kParallelRows)
  for (int64_t r = 0; r < Q; ++r) {
    const KeyTables keys = head_keys(r % H);
    float* dqr = dq_.data() + r * dk;
    std::fill(dqr, dqr + dk, 0.0f);
    for (int64_t a = r * k; a < (r + 1) * k; ++a) {
      axpy(dscore_[a], keys.c1 + (index_[a] / n2) * half, dqr, half);
      axpy(dscore_[a], keys.c2 + (index_[a] % n2) * half, dqr + half, half);
    }
  }
  for (int side = 0; side < 2; ++side) {
    Parameter& keys = side == 0 ? keys1 : keys2;
    if (keys.frozen) continue;
    const int64_t n = side == 0 ? n1 : n2;
    contrib_.clear();
    for (int64_t a = 0; a < Q * k; ++a) {
      const int64_t r = a / k, set = opt_.shared_keys ? 0 : r % H;
      const int64_t i = side == 0 ? index_[a] / n2 : index_[a] % n2;
      contrib_.push_back({int32_t(set * n + i), int32_t(r), dscore_[a]});
    }
    if (!query_norm) {
      scatter_rows(contrib_, q.data() + side * half, dk, half, keys.sparse_grad);
      continue;
    }
    dnorm_.clear();
    scatter_rows(contrib_, q.data() + side * half, dk, half, dnorm_);
    key_rows_backward(keys, side == 0 ? mean1_ : mean2_, side == 0 ? rstd1_ : rstd2_);
  }
}

// The key normalisation's backward on the rows dnorm_ holds, added into keys' gradient.
void MemoryRead::key_rows_backward(Parameter& keys, const std::vector<float>& mean, const std::vector<float>& rstd) {
  const int64_t half = opt_.d_key / 2, rows = int64_t(dnorm_.rows.size());
  Tensor g({rows, half});  // fresh: accumulate() may keep it as the gradient's storage
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t r = dnorm_.rows[i];
    layernorm_row_backward(keys.value.data() + r * half, key_scale_.data(), dnorm_.values.data() + i * half, half,
                           mean[r], rstd[r], g.data() + i * half);
  }
  keys.sparse_grad.accumulate(dnorm_.rows, g);
}

void MemoryRead::stats(const std::string& name, Stats& out) const {
  UsageSummary u;
  if (!summarise_usage(usage_, u)) return;
  out.push_back({name + ".usage_frac", {u.used_frac}});
  out.push_back({name + ".usage_kl", {u.kl_uniform}});
}

}  // namespace peer
