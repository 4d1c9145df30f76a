#include "peer/experts.h"

#include <algorithm>

#include "core/sparse_rows.h"
#include "core/vec.h"
#include "peer/peer_math.h"

namespace peer {

namespace {
// Below this many (token, head) rows, or assignments, a parallel region costs more than it saves
// (and on a loaded machine a barrier can wait a whole scheduler slice). Every row's result is
// computed by one thread alone, so the split does not change any bit.
constexpr int64_t kParallelRows = 64;
constexpr int64_t kParallelAssignments = kParallelRows * 16;

// Expert rows are read at random: ask for the rows of assignment `a` ahead of time so their
// cache misses overlap with the arithmetic on the current one. Always inlined: GCC finds a
// function whose only effect is a prefetch "const" and deletes the calls to it.
constexpr int64_t kPrefetchAhead = 4;
[[gnu::always_inline]] inline void prefetch_row(const float* row, int64_t d) {
  for (int64_t i = 0; i < d; i += 16) __builtin_prefetch(row + i);
}
[[gnu::always_inline]] inline void prefetch_expert(const PoolTable* pools, const int32_t* pool,
                                                   const int32_t* local, int64_t d, int64_t a, int64_t end) {
  if (a >= end) return;
  prefetch_row(pools[pool[a]].U + int64_t(local[a]) * d, d);
  prefetch_row(pools[pool[a]].V + int64_t(local[a]) * d, d);
}
}  // namespace

void merge_pools(const std::vector<Tensor>& index, const std::vector<Tensor>& score, const std::vector<int64_t>& offset,
                 int64_t k, Tensor& pool, Tensor& local, Tensor& global, Tensor& score_out, Tensor& weight) {
  const Device dev = score[0].device();
  if (dev == Device::CUDA) return cuda::merge_pools(index, score, offset, k, pool, local, global, score_out, weight);
  const int64_t Q = score[0].dim(0), P = int64_t(score.size());
  for (Tensor* t : {&pool, &local, &global}) t->resize({Q, k}, dev, DType::I32);
  score_out.resize({Q, k}, dev);
  weight.resize({Q, k}, dev);
  std::vector<int64_t> kp(P);
  for (int64_t p = 0; p < P; ++p) kp[p] = score[p].dim(1);
  std::vector<const int32_t*> lists_index(P);
  std::vector<const float*> lists_score(P);
  for (int64_t p = 0; p < P; ++p) {
    lists_index[p] = index[p].data_i32();
    lists_score[p] = score[p].data();
  }
  const PoolLists lists{lists_index.data(), lists_score.data(), kp.data(), offset.data(), P};
#pragma omp parallel for schedule(static) if (Q >= kParallelRows)
  for (int64_t r = 0; r < Q; ++r) {
    TopList out{score_out.data() + r * k, global.data_i32() + r * k, 0, k};
    merge_pools_row(lists, r, out, pool.data_i32() + r * k, local.data_i32() + r * k);
    softmax_topk(out.score, weight.data() + r * k, k);
  }
}

void experts_forward(const std::vector<PoolTable>& pools, const Tensor& x, const Tensor& pool, const Tensor& local,
                     const Tensor& weight, int64_t per_token, Activation act, Tensor& pre, Tensor& y) {
  if (x.device() == Device::CUDA) return cuda::experts_forward(pools, x, pool, local, weight, per_token, act, pre, y);
  const int64_t T = x.dim(0), d = x.dim(1), A = T * per_token;
  y.resize({T, d}, x.device());
  pre.resize({A}, x.device());
  const PoolTable* tb = pools.data();
  const int32_t *pi = pool.data_i32(), *li = local.data_i32();
  const float* w = weight.data();
  float* pre_a = pre.data();
#pragma omp parallel for schedule(static) if (A >= kParallelAssignments)
  for (int64_t t = 0; t < T; ++t) {
    const float* xt = x.data() + t * d;
    float* yt = y.data() + t * d;
    std::fill(yt, yt + d, 0.0f);
    for (int64_t a = t * per_token; a < (t + 1) * per_token; ++a) {
      prefetch_expert(tb, pi, li, d, a + kPrefetchAhead, A);
      const int64_t row = int64_t(li[a]) * d;
      pre_a[a] = dot(tb[pi[a]].U + row, xt, d);
      axpy(w[a] * activation_value(act, pre_a[a]), tb[pi[a]].V + row, yt, d);
    }
  }
}

void experts_backward(const std::vector<PoolTable>& pools, const Tensor& dy, const Tensor& pool, const Tensor& local,
                      const Tensor& weight, const Tensor& pre, int64_t per_token, int64_t k, Activation act,
                      Tensor& dx, Tensor& coef_u, Tensor& coef_v, Tensor& dscore) {
  if (dy.device() == Device::CUDA)
    return cuda::experts_backward(pools, dy, pool, local, weight, pre, per_token, k, act, dx, coef_u, coef_v, dscore);
  const int64_t T = dy.dim(0), d = dy.dim(1), A = T * per_token;
  dx.resize({T, d}, dy.device());
  for (Tensor* t : {&coef_u, &coef_v, &dscore}) t->resize({A}, dy.device());
  const PoolTable* tb = pools.data();
  const int32_t *pi = pool.data_i32(), *li = local.data_i32();
  const float *w = weight.data(), *pre_a = pre.data();
  float *cu = coef_u.data(), *cv = coef_v.data(), *ds = dscore.data();
#pragma omp parallel for schedule(static) if (A >= kParallelAssignments)
  for (int64_t t = 0; t < T; ++t) {
    const float* gt = dy.data() + t * d;
    float* dxt = dx.data() + t * d;
    std::fill(dxt, dxt + d, 0.0f);
    for (int64_t a = t * per_token; a < (t + 1) * per_token; ++a) {
      prefetch_expert(tb, pi, li, d, a + kPrefetchAhead, A);
      const int64_t row = int64_t(li[a]) * d;
      const ExpertGrad g = expert_backward(act, pre_a[a], w[a], dot(tb[pi[a]].V + row, gt, d));
      axpy(g.du, tb[pi[a]].U + row, dxt, d);
      cu[a] = g.du;
      cv[a] = g.dv;
      ds[a] = g.dw;
    }
    for (int64_t r = t * per_token; r < (t + 1) * per_token; r += k) softmax_topk_backward(w + r, ds + r, k);
  }
}

void keys_backward(const std::vector<PoolTable>& pools, const Tensor& pool, const Tensor& local, const Tensor& dscore,
                   int64_t rows, int64_t k, int64_t d_key, Tensor& dq) {
  if (dscore.device() == Device::CUDA) return cuda::keys_backward(pools, pool, local, dscore, rows, k, d_key, dq);
  const int64_t half = d_key / 2;
  const int32_t *pi = pool.data_i32(), *li = local.data_i32();
  dq.resize({rows, d_key}, dscore.device());
#pragma omp parallel for schedule(static) if (rows >= kParallelRows)
  for (int64_t r = 0; r < rows; ++r) {
    float* dqr = dq.data() + r * d_key;
    std::fill(dqr, dqr + d_key, 0.0f);
    for (int64_t a = r * k; a < (r + 1) * k; ++a) {
      const PoolTable& t = pools[pi[a]];
      const int64_t i1 = li[a] / t.n2, i2 = li[a] % t.n2;
      axpy(dscore[a], t.keys1 + i1 * half, dqr, half);
      axpy(dscore[a], t.keys2 + i2 * half, dqr + half, half);
    }
  }
}

void pool_grads(int32_t p, const PoolTable& table, const Tensor& pool, const Tensor& local, const Tensor& coef_u,
                const Tensor& coef_v, const Tensor& dscore, const Tensor& x, const Tensor& dy, const Tensor& q,
                int64_t per_token, int64_t k, PoolGrads g) {
  if (x.device() == Device::CUDA)
    return cuda::pool_grads(p, table, pool, local, coef_u, coef_v, dscore, x, dy, q, per_token, k, g);
  const int64_t A = pool.numel(), d = x.dim(1), dk = q.dim(1), half = dk / 2;
  const int32_t *pi = pool.data_i32(), *li = local.data_i32();
  thread_local std::vector<RowContribution> ca, cb;  // kept across steps
  auto scatter = [&](auto target, const float* coef, int64_t group, const float* src, int64_t ld, int64_t w,
                     RowSparseGrad& g1, const float* coef2, const float* src2, RowSparseGrad& g2, auto target2) {
    ca.clear();
    cb.clear();
    for (int64_t a = 0; a < A; ++a) {
      if (pi[a] != p) continue;
      ca.push_back({target(li[a]), int32_t(a / group), coef[a]});
      cb.push_back({target2(li[a]), int32_t(a / group), coef2[a]});
    }
    scatter_rows(ca, src, ld, w, g1);
    scatter_rows(cb, src2, ld, w, g2);
  };
  const int64_t n2 = table.n2;
  scatter([](int32_t l) { return l; }, coef_u.data(), per_token, x.data(), d, d, *g.U, coef_v.data(), dy.data(), *g.V,
          [](int32_t l) { return l; });
  scatter([n2](int32_t l) { return int32_t(l / n2); }, dscore.data(), k, q.data(), dk, half, *g.keys1, dscore.data(),
          q.data() + half, *g.keys2, [n2](int32_t l) { return int32_t(l % n2); });
}

void count_usage(const Tensor& global, Tensor& usage) {
  if (global.device() == Device::CUDA) return cuda::count_usage(global, usage);
  const int32_t* g = global.data_i32();
  for (int64_t a = 0; a < global.numel(); ++a) ++usage.data_i32()[g[a]];
}

}  // namespace peer
