// Op table rows for peer/ and the row-sparse optimizer (see op_table.h): the PEER layer (query
// net, BatchNorm, product-key retrieval over every pool, gather-combine of the retrieved experts,
// row-sparse gradients of keys, U and V), the router softmax and gather-combine alone,
// product-key top-k against brute force, and row-sparse AdamW against dense AdamW.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "core/optim/adamw.h"
#include "core/rng.h"
#include "peer/experts.h"
#include "peer/peer_layer.h"
#include "peer/product_keys.h"
#include "tests/gradcheck.h"
#include "tests/op_table.h"

namespace peer::optable {

using gradcheck::fill_normal;
using gradcheck::random_tensor;

namespace {

struct PeerShape {
  int64_t d, heads, top_k, d_key;
  std::vector<PoolShape> pools;
  float dropout = 0.0f;  // on the output; the mask is fixed by (seed, stream, step)
};

PeerOptions peer_options(const PeerShape& s, Activation act, bool bn) {
  PeerOptions o;
  o.heads = s.heads;
  o.top_k = s.top_k;
  o.d_key = s.d_key;
  o.activation = act;
  o.query_batchnorm = bn;
  o.dropout = s.dropout;
  return o;
}

// Row-sparse parameters are checked densified, untouched rows included (both sides 0 there).
class PeerOp : public GradOp {
 public:
  PeerOp(PeerShape s, Activation act, bool bn, int64_t T, uint64_t seed)
      : L("peer", s.d, peer_options(s, act, bn), s.pools[0], InitScheme::Kaiming, seed, kStreamLayer),
        act(act),
        x(random_tensor({T, s.d}, seed, 1)),
        w(random_tensor({T, s.d}, seed, 2)) {
    for (size_t p = 1; p < s.pools.size(); ++p) L.add_pool(s.pools[p]);
    if (bn) {  // BatchNorm's affine parameters away from their (1, 0) initial values
      fill_normal(L.query_bn->weight.value, seed, 201, 0.3f, 1.0f);
      fill_normal(L.query_bn->bias.value, seed, 202, 0.2f);
    }
  }
  double loss() override { return project(L.forward(x, true, 0), w); }
  std::vector<Operand> backward() override {
    L.zero_grad();
    return with_params({input("x", x, L.backward(w))}, L);
  }
  void to(Device d) override { move_to(d, L, {&x, &w}); }
  // The retrieved experts, and under ReLU the sign of u . x of each: a perturbation that changes
  // either changes a discrete choice.
  std::vector<uint8_t> kinks() override {
    L.forward(x, true, 0);
    const std::vector<int32_t>& g = L.retrieved();
    std::vector<uint8_t> out(g.size() * sizeof(int32_t));
    std::memcpy(out.data(), g.data(), out.size());
    if (act != Activation::ReLU) return out;
    const int64_t d = x.dim(1), per_token = int64_t(g.size()) / x.dim(0);
    for (size_t a = 0; a < g.size(); ++a) {
      int64_t row = g[a];
      size_t p = 0;
      while (row >= L.pools[p]->shape.size()) row -= L.pools[p++]->shape.size();
      const float* u = L.pools[p]->U.value.data() + row * d;
      const float* xt = x.data() + int64_t(a) / per_token * d;
      float pre = 0.0f;
      for (int64_t i = 0; i < d; ++i) pre += u[i] * xt[i];
      out.push_back(pre > 0.0f);
    }
    return out;
  }

  PeerLayer L;
  Activation act;
  Tensor x, w;
};

// The router softmax and the gather-compute-combine alone (peer/experts.h: merge_pools,
// experts_forward, experts_backward, pool_grads) on fixed retrieved experts: k distinct experts
// per (token, head) row given in no order, with their scores as an input. Differentiated: x, the
// scores (their gradient mapped back from the merged, best-first order to the given one), and the
// row-sparse U and V. GELU: the loss is smooth (reordering tied scores permutes equal terms).
class GatherCombineOp : public GradOp {
 public:
  GatherCombineOp(int64_t T, int64_t d, int64_t heads, int64_t k, PoolShape shape, uint64_t seed)
      : pool("pool", shape, d, 2, 1.0f, 0.5f, seed),
        heads(heads),
        k(k),
        x(random_tensor({T, d}, seed, 1)),
        score(random_tensor({T * heads, k}, seed, 2)),
        w(random_tensor({T, d}, seed, 3)),
        q({T * heads, 2}),
        index({T * heads, k}, Device::CPU, DType::I32) {
    const int64_t N = shape.size(), stride = N / k;
    Philox rng(seed, 4);
    for (int64_t r = 0; r < T * heads; ++r) {  // distinct: offset + j * stride < N
      const int64_t offset = int64_t(rng.below(uint64_t(stride), uint64_t(r)));
      for (int64_t j = 0; j < k; ++j) index.data_i32()[r * k + j] = int32_t(offset + ((r + j) % k) * stride);
    }
  }
  double loss() override {
    merge_pools({index}, {score}, {0, pool.shape.size()}, k, pool_, local_, global_, sorted_, weight_);
    experts_forward({table()}, x, pool_, local_, weight_, heads * k, Activation::GELU, pre_, y_);
    return project(y_, w);
  }
  std::vector<Operand> backward() override {
    pool.zero_grad();
    experts_backward({table()}, w, pool_, local_, weight_, pre_, heads * k, k, Activation::GELU, dx_, coef_u_, coef_v_,
                     dscore_);
    RowSparseGrad keys1, keys2;  // the sub-keys play no part here
    pool_grads(0, table(), pool_, local_, coef_u_, coef_v_, dscore_, x, w, q, heads * k, k,
               {&pool.U.sparse_grad, &pool.V.sparse_grad, &keys1, &keys2});
    const Tensor given = index.to(Device::CPU), merged = global_.to(Device::CPU), ds = dscore_.to(Device::CPU);
    std::vector<float> dscore(size_t(score.numel()));
    for (int64_t r = 0; r < score.dim(0); ++r)
      for (int64_t j = 0; j < k; ++j)
        for (int64_t i = 0; i < k; ++i)
          if (given.data_i32()[r * k + i] == merged.data_i32()[r * k + j]) dscore[r * k + i] = ds[r * k + j];
    return {input("x", x, dx_), {"score", score.data(), score.numel(), std::move(dscore)}, param(pool.U),
            param(pool.V)};
  }
  void to(Device d) override { move_to(d, pool, {&x, &score, &w, &q, &index}); }
  PoolTable table() {
    return {pool.U.value.data(), pool.V.value.data(), pool.keys1.value.data(), pool.keys2.value.data(),
            pool.shape.n1, pool.shape.n2};
  }

  ExpertPool pool;
  int64_t heads, k;
  Tensor x, score, w, q, index;
  Tensor pool_, local_, global_, sorted_, weight_, pre_, y_, dx_, coef_u_, coef_v_, dscore_;
};

// Product-key top-k against brute force over all n1 * n2 scores: the same indices in the same
// order and the same scores (both paths add the same sub-scores).
class RetrievalOp : public ExactOp {
 public:
  RetrievalOp(int64_t n1, int64_t n2, int64_t d_key, int64_t k, int64_t Q, uint64_t seed)
      : c1(random_tensor({n1, d_key / 2}, seed, 1, 1.0f / std::sqrt(float(d_key / 2)))),
        c2(random_tensor({n2, d_key / 2}, seed, 2, 1.0f / std::sqrt(float(d_key / 2)))),
        q(random_tensor({Q, d_key}, seed, 3)),
        k(k),
        index(Q * k),
        score(Q * k) {}
  void run() override { product_key_topk(q.data(), q.dim(0), q.dim(1), keys(), k, index.data(), score.data()); }
  std::string compare(double atol, double rtol) override {
    run();
    std::vector<int32_t> want_index(index.size());
    std::vector<float> want_score(score.size());
    brute_force_topk(q.data(), q.dim(0), q.dim(1), keys(), k, want_index.data(), want_score.data());
    const auto diff = std::mismatch(index.begin(), index.end(), want_index.begin());
    std::string out = compare_values("score", score.data(), want_score.data(), int64_t(score.size()), atol, rtol);
    if (diff.first != index.end())
      out += cat("index: first difference at ", diff.first - index.begin(), ": ", *diff.first, " want ",
                 *diff.second, "\n");
    return out;
  }
  KeyTables keys() const { return {c1.data(), c2.data(), c1.dim(0), c2.dim(0), c1.dim(1)}; }

  Tensor c1, c2, q;
  int64_t k;
  std::vector<int32_t> index;
  std::vector<float> score;
};

// Row-sparse AdamW against AdamW on a dense copy of the table whose gradient is zero outside the
// touched rows. Dense mode (lazy_sparse = false) is exact Adam: equal on every row. Lazy mode
// equals it on the rows touched at every step (kAlways) and leaves rows never
// touched as they were.
class SparseAdamWOp : public ExactOp {
 public:
  SparseAdamWOp(int64_t rows, int64_t width, int64_t touched, int64_t steps, uint64_t seed)
      : lazy(Parameter::row_sparse("table", {rows, width}, true)), grads(steps) {
    fill_normal(lazy.value, seed, 1);
    Philox rng(seed, 2);
    for (int64_t s = 0; s < steps; ++s) {
      std::vector<int32_t> r(kAlways.begin(), kAlways.end());
      for (int64_t i = 0; i < touched; ++i) r.push_back(int32_t(rng.below(uint64_t(rows), uint64_t(s * touched + i))));
      std::sort(r.begin(), r.end());
      r.erase(std::unique(r.begin(), r.end()), r.end());
      grads[s].rows = r;
      grads[s].values = random_tensor({int64_t(r.size()), width}, seed, 10 + uint64_t(s));
    }
  }
  void run() override { step(lazy, lazy_adam); }
  std::string compare(double atol, double rtol) override {
    const int64_t rows = lazy.value.dim(0), width = lazy.value.dim(1);
    const Tensor initial = lazy.value.clone();
    Parameter exact = Parameter::row_sparse("table", {rows, width}, true), dense("table", {rows, width}, true);
    exact.value.copy_from(initial);
    dense.value.copy_from(initial);
    AdamWOptions eager = options();
    eager.lazy_sparse = false;
    AdamW exact_adam({&exact}, eager), dense_adam({&dense}, options());
    std::vector<uint8_t> ever(rows, 0);
    for (size_t s = 0; s < grads.size(); ++s) {
      step(lazy, lazy_adam);
      step(exact, exact_adam);
      dense.grad.zero();
      for (size_t i = 0; i < grads[s].rows.size(); ++i) {
        std::copy_n(grads[s].values.data() + int64_t(i) * width, width, dense.grad.data() + grads[s].rows[i] * width);
        ever[grads[s].rows[i]] = 1;
      }
      dense_adam.step(kLr);
    }
    std::string out = compare_values("dense mode", exact.value.data(), dense.value.data(), rows * width, atol, rtol);
    for (int32_t r : kAlways)
      out += compare_values(cat("lazy mode, row ", r), lazy.value.data() + r * width, dense.value.data() + r * width,
                            width, atol, rtol);
    for (int64_t r = 0; r < rows; ++r)
      if (!ever[r])
        out += compare_values(cat("lazy mode, untouched row ", r), lazy.value.data() + r * width,
                              initial.data() + r * width, width, 0.0, 0.0);
    return out;
  }

  static AdamWOptions options() {
    AdamWOptions o;
    o.weight_decay = 0.1f;  // decay too must touch only the gradient's rows in lazy mode
    return o;
  }
  // One optimizer step of p with the next step's gradient rows.
  void step(Parameter& p, AdamW& adam) {
    const RowSparseGrad& g = grads[size_t(adam.steps()) % grads.size()];
    p.sparse_grad.clear();
    p.sparse_grad.accumulate(g.rows, g.values);
    adam.step(kLr);
  }

  static constexpr float kLr = 1e-2f;
  static constexpr std::array<int32_t, 2> kAlways = {1, 4};
  Parameter lazy;
  AdamW lazy_adam{{&lazy}, options()};
  std::vector<RowSparseGrad> grads;  // per step
};

// ---- Rows ---------------------------------------------------------------------------------

// The retrieved rows of U and V enter the output through products of three to four float32
// factors; a smaller step (3e-3) keeps the second-order error of the scores' softmax below atol.
// Discrete flips (retrieval, ReLU signs) may skip at most 1 in 5 tried elements.
constexpr Tolerance kPeer = {1e-3, 1e-2, 3e-3f, 1 << 20, 0.2};
// Both sides run the same float operations in the same order: bit-identical.
constexpr Tolerance kExact = {0.0, 0.0, 0.0f, 0, 0.0};

Case peer_layer(const PeerShape& s, Activation act, bool bn, int64_t T, std::vector<uint64_t> seeds, Tolerance tol) {
  std::string pools;
  for (const PoolShape& p : s.pools) pools += cat(pools.empty() ? "" : "+", p.n1, "x", p.n2);
  return grad_row<PeerOp>(cat("peer.layer T=", T, " d=", s.d, " heads=", s.heads, " k=", s.top_k, " d_key=", s.d_key,
                              " pools=", pools, " ", activation_name(act), bn ? " batchnorm" : "",
                              s.dropout > 0.0f ? cat(" dropout=", s.dropout) : ""),
                          seeds, tol, T, s, act, bn, T);
}

Case gather_combine(int64_t T, int64_t d, int64_t heads, int64_t k, PoolShape shape, std::vector<uint64_t> seeds) {
  return grad_row<GatherCombineOp>(cat("peer.gather_combine T=", T, " d=", d, " heads=", heads, " k=", k, " pool=",
                                       shape.n1, "x", shape.n2),
                                   seeds, kPeer, T, T, d, heads, k, shape);
}

Case retrieval(int64_t n1, int64_t n2, int64_t d_key, int64_t k, int64_t Q, std::vector<uint64_t> seeds) {
  return exact_row<RetrievalOp>(cat("peer.retrieval n1=", n1, " n2=", n2, " d_key=", d_key, " k=", k, " Q=", Q), seeds,
                                kExact, Q, n1, n2, d_key, k, Q);
}

Case sparse_adamw(int64_t rows, int64_t width, int64_t touched, int64_t steps, std::vector<uint64_t> seeds) {
  return exact_row<SparseAdamWOp>(cat("adamw.row_sparse rows=", rows, " width=", width, " touched=", touched,
                                      " steps=", steps),
                                  seeds, kExact, touched, rows, width, touched, steps);
}

}  // namespace

std::vector<Case> peer_cases() {
  const PeerShape one = {6, 2, 3, 4, {{8, 8}}}, two = {6, 2, 3, 4, {{8, 8}, {5, 3}}},
                  dropped = {6, 2, 3, 4, {{8, 8}}, 0.2f};
  return {
      peer_layer(one, Activation::GELU, true, 10, {51}, kPeer),
      peer_layer(dropped, Activation::GELU, true, 10, {51}, kPeer),
      peer_layer(one, Activation::ReLU, true, 10, {51}, kPeer),
      // Without BatchNorm the queries' scale follows x; seed 52 put 20 of 48 query weights within
      // a step of a retrieval flip, these seeds none.
      peer_layer(two, Activation::GELU, false, 10, {53, 54}, kPeer),
      gather_combine(10, 6, 2, 3, {8, 8}, {55}),
      gather_combine(7, 5, 3, 4, {4, 9}, {56}),
      retrieval(4, 4, 8, 7, 70, {61}),
      retrieval(100, 37, 8, 64, 70, {62}),
      retrieval(3, 50, 8, 25, 70, {63}),  // k > n1
      retrieval(256, 256, 16, 16, 70, {64}),
      sparse_adamw(12, 3, 3, 4, {71, 72}),
  };
}

std::vector<Case> peer_perf_cases() {
  const PeerShape big = {256, 8, 16, 128, {{256, 256}}};
  return {
      peer_layer(big, Activation::GELU, true, 4096, {1}, kPeer),
      gather_combine(4096, 256, 8, 16, {256, 256}, {1}),
      retrieval(1024, 1024, 128, 16, 4096, {1}),
      sparse_adamw(1 << 16, 256, 8192, 1, {1}),
  };
}

}  // namespace peer::optable
