// The PEER layer (peer/peer_layer.h): its forward against a plain double reference (queries,
// BatchNorm, brute-force top-k over all pools, softmax, experts), row-sparse gradients that hold
// exactly the retrieved rows, and bit-identical results across runs and thread counts.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "gradcheck.h"
#include "peer/peer_layer.h"
#include "tests/peer_layer_setup.h"
#include "thread_guard.h"

using namespace peer;
using namespace peer::gradcheck;

namespace {

double act_value(Activation a, double x) {
  return a == Activation::ReLU ? (x > 0.0 ? x : 0.0) : 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0)));
}

// Plain reference forward in double: q = W x, optional BatchNorm with batch statistics (biased
// variance, eps 1e-5 as BatchNorm1d's default), then per (token, head) the scores of EVERY expert
// of every pool, top-k by (score desc, global index asc), softmax, sum_j w_j act(u_j . x) v_j,
// summed over heads.
struct Reference {
  std::vector<double> y;        // (T, d)
  std::vector<int32_t> index;   // (T*heads, k) global
  std::vector<double> score;    // (T*heads, k)
  double min_gap = INFINITY;    // smallest score gap among the first k+1 of any query
};

Reference reference_forward(PeerLayer& L, const Tensor& x, const PeerOptions& o) {
  const int64_t T = x.dim(0), d = x.dim(1), H = o.heads, k = o.top_k, dk = o.d_key, half = dk / 2, F = H * dk;
  std::vector<double> q(T * F, 0.0);
  const Tensor& W = L.query.weight.value;  // (F, d)
  for (int64_t t = 0; t < T; ++t)
    for (int64_t f = 0; f < F; ++f)
      for (int64_t i = 0; i < d; ++i) q[t * F + f] += double(W[f * d + i]) * double(x[t * d + i]);
  if (o.query_batchnorm) {
    for (int64_t f = 0; f < F; ++f) {
      double mean = 0.0, var = 0.0;
      for (int64_t t = 0; t < T; ++t) mean += q[t * F + f];
      mean /= double(T);
      for (int64_t t = 0; t < T; ++t) var += (q[t * F + f] - mean) * (q[t * F + f] - mean);
      var /= double(T);
      const double g = L.query_bn->weight.value[f], b = L.query_bn->bias.value[f];
      for (int64_t t = 0; t < T; ++t) q[t * F + f] = (q[t * F + f] - mean) / std::sqrt(var + 1e-5) * g + b;
    }
  }
  Reference ref;
  ref.y.assign(T * d, 0.0);
  ref.index.resize(T * H * k);
  ref.score.resize(T * H * k);
  std::vector<std::pair<double, int64_t>> all;
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h) {
      const double* q1 = q.data() + t * F + h * dk;
      const double* q2 = q1 + half;
      all.clear();
      int64_t offset = 0;
      for (const auto& pool : L.pools) {
        const int64_t n1 = pool->shape.n1, n2 = pool->shape.n2;
        for (int64_t i1 = 0; i1 < n1; ++i1)
          for (int64_t i2 = 0; i2 < n2; ++i2) {
            double s = 0.0;
            for (int64_t j = 0; j < half; ++j)
              s += q1[j] * pool->keys1.value[i1 * half + j] + q2[j] * pool->keys2.value[i2 * half + j];
            all.emplace_back(s, offset + i1 * n2 + i2);
          }
        offset += n1 * n2;
      }
      std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
        return a.first > b.first || (a.first == b.first && a.second < b.second);
      });
      const int64_t upto = std::min<int64_t>(k + 1, int64_t(all.size()));
      for (int64_t j = 1; j < upto; ++j) ref.min_gap = std::min(ref.min_gap, all[j - 1].first - all[j].first);
      double sum = 0.0;
      std::vector<double> w(k);
      for (int64_t j = 0; j < k; ++j) sum += (w[j] = std::exp(all[j].first - all[0].first));
      for (int64_t j = 0; j < k; ++j) {
        const int64_t r = (t * H + h) * k + j;
        ref.index[r] = int32_t(all[j].second);
        ref.score[r] = all[j].first;
        // Global index -> pool and local row.
        int64_t g = all[j].second;
        size_t p = 0;
        while (g >= L.pools[p]->shape.size()) g -= L.pools[p++]->shape.size();
        const Tensor& U = L.pools[p]->U.value;
        const Tensor& V = L.pools[p]->V.value;
        double pre = 0.0;
        for (int64_t i = 0; i < d; ++i) pre += double(U[g * d + i]) * double(x[t * d + i]);
        const double c = w[j] / sum * act_value(o.activation, pre);
        for (int64_t i = 0; i < d; ++i) ref.y[t * d + i] += c * double(V[g * d + i]);
      }
    }
  return ref;
}

std::vector<int32_t> sorted_unique(std::vector<int32_t> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

}  // namespace

// ---- The layer's forward against a plain reference ------------------------------------------

TEST_CASE("PEER forward equals a plain reference: queries, BatchNorm, brute-force top-k over all pools, "
          "softmax, experts",
          "[peer][layer]") {
  const auto act = GENERATE(Activation::GELU, Activation::ReLU);
  const bool bn = GENERATE(true, false);
  const int64_t d = 8, T = 12;
  const PeerOptions o = options(3, 4, 6, act, bn);
  const uint64_t seed = 41;
  PeerLayer L("peer", d, o, {8, 8}, InitScheme::Kaiming, seed);
  L.add_pool({5, 3});  // all pools take part: 64 + 15 experts
  randomise_bn(L, seed);
  Tensor x = random_tensor({T, d}, seed, 1);
  const Tensor& y = L.forward(x, true, 0);
  Reference ref = reference_forward(L, x, o);
  // Inputs are drawn so that no two of the top k+1 scores nearly tie (the float layer and the
  // double reference must rank them the same); a failure here means: pick another seed.
  INFO("smallest reference score gap " << ref.min_gap);
  REQUIRE(ref.min_gap > 1e-4);
  CHECK(L.retrieved() == ref.index);
  // Expert retrieval really spans both pools.
  CHECK(std::any_of(ref.index.begin(), ref.index.end(), [](int32_t g) { return g >= 64; }));
  // Tolerance: float32 queries (d = 8 terms), BatchNorm and scores (d_key/2 = 3 terms) against
  // double; the output is a sum of heads * k = 12 weighted experts of width 8.
  const double atol = 1e-5, rtol = 1e-4;
  double worst_y = 0.0, worst_s = 0.0;
  REQUIRE(y.numel() == T * d);
  for (int64_t i = 0; i < T * d; ++i)
    worst_y = std::max(worst_y, std::fabs(y[i] - ref.y[i]) - (atol + rtol * std::fabs(ref.y[i])));
  for (size_t i = 0; i < ref.score.size(); ++i)
    worst_s = std::max(worst_s, std::fabs(L.scores()[i] - ref.score[i]) - (atol + rtol * std::fabs(ref.score[i])));
  INFO("worst excess over tolerance: output " << worst_y << ", scores " << worst_s);
  CHECK(worst_y <= 0.0);
  CHECK(worst_s <= 0.0);
  double ymax = 0.0;
  for (int64_t i = 0; i < T * d; ++i) ymax = std::max(ymax, std::fabs(double(y[i])));
  CHECK(ymax > 1e-2);  // not a vacuous comparison of zeros
}

// ---- Sparse gradients touch exactly the retrieved rows ----------------------------------------

TEST_CASE("row-sparse gradients hold exactly the retrieved rows and no dense gradient exists", "[peer][sparse]") {
  const int64_t d = 8, T = 12, H = 4, k = 6, n1 = 32, n2 = 32;
  PeerLayer L("peer", d, options(H, k, 8, Activation::GELU, true), {n1, n2}, InitScheme::Kaiming, 61);
  Tensor x = random_tensor({T, d}, 61, 1), r = random_tensor({T, d}, 61, 2);
  L.forward(x, true, 0);
  L.zero_grad();
  L.backward(r);
  const std::vector<int32_t>& g = L.retrieved();
  REQUIRE(int64_t(g.size()) == T * H * k);
  std::vector<int32_t> i1, i2;
  for (int32_t i : g) {
    i1.push_back(i / int32_t(n2));
    i2.push_back(i % int32_t(n2));
  }
  ExpertPool& pool = *L.pools[0];
  const std::vector<int32_t> rows = sorted_unique(g);
  CHECK(int64_t(rows.size()) < n1 * n2);  // a strict subset: the check is not vacuous
  CHECK(pool.U.sparse_grad.rows == rows);
  CHECK(pool.V.sparse_grad.rows == rows);
  CHECK(pool.keys1.sparse_grad.rows == sorted_unique(i1));
  CHECK(pool.keys2.sparse_grad.rows == sorted_unique(i2));
  for (Parameter* p : pool.parameters()) {
    INFO(p->name);
    CHECK(p->sparse);
    CHECK(p->grad.numel() == 0);
    REQUIRE(p->sparse_grad.values.ndim() == 2);
    CHECK(p->sparse_grad.values.dim(0) == int64_t(p->sparse_grad.rows.size()));
    CHECK(p->sparse_grad.values.dim(1) == p->value.dim(1));
  }
  // Gradients accumulate: a second backward of the same forward doubles every value exactly and
  // keeps the row set.
  std::vector<Tensor> first;
  for (Parameter* p : pool.parameters()) first.push_back(p->sparse_grad.values.clone());
  L.backward(r);
  auto params = pool.parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    INFO(params[i]->name);
    int64_t bad = 0;
    for (int64_t j = 0; j < first[i].numel(); ++j) bad += params[i]->sparse_grad.values[j] != 2.0f * first[i][j];
    CHECK(bad == 0);
  }
  CHECK(pool.U.sparse_grad.rows == rows);
  // zero_grad clears the rows.
  L.zero_grad();
  for (Parameter* p : pool.parameters()) CHECK(p->sparse_grad.rows.empty());
}

TEST_CASE("sparse gradients of a later step do not depend on earlier steps (buffers reused after zero_grad)",
          "[peer][sparse]") {
  // Layer A runs steps on x1, x2 (more tokens), x3 (fewer tokens), zero_grad before each
  // backward; a fresh twin layer (same seed) runs only the step under test. Gradient buffers
  // that A reuses must not leak earlier rows or values.
  const int64_t d = 8, T = 12;
  const PeerOptions o = options(4, 6, 8, Activation::GELU, true);
  PeerLayer A("peer", d, o, {32, 32}, InitScheme::Kaiming, 63);
  const std::vector<int64_t> tokens = {T, 3 * T, T / 2};
  for (size_t s = 0; s < tokens.size(); ++s) {
    Tensor x = random_tensor({tokens[s], d}, 63, 10 + s), r = random_tensor({tokens[s], d}, 63, 20 + s);
    A.forward(x, true, s);
    A.zero_grad();
    A.backward(r);
    if (s == 0) continue;
    PeerLayer fresh("peer", d, o, {32, 32}, InitScheme::Kaiming, 63);
    fresh.forward(x, true, s);
    fresh.zero_grad();
    fresh.backward(r);
    auto pa = A.parameters(), pf = fresh.parameters();
    for (size_t i = 0; i < pa.size(); ++i) {
      if (!pa[i]->sparse) continue;
      INFO(pa[i]->name << " at step " << s + 1 << " with " << tokens[s] << " tokens");
      CHECK(pa[i]->sparse_grad.rows == pf[i]->sparse_grad.rows);
      CHECK(same_bits(pa[i]->sparse_grad.values, pf[i]->sparse_grad.values));
    }
  }
}

// ---- Determinism ------------------------------------------------------------------------------

namespace {

struct RunResult {
  Tensor y, dx;
  std::vector<int32_t> retrieved;
  std::vector<std::vector<int32_t>> rows;
  std::vector<Tensor> values;
  std::vector<Tensor> dense;
};

RunResult run_layer(uint64_t seed) {
  const int64_t d = 16, T = 200;
  PeerLayer L("peer", d, options(4, 8, 16, Activation::GELU, true), {32, 32}, InitScheme::Kaiming, seed);
  L.add_pool({8, 16});
  Tensor x = random_tensor({T, d}, seed, 1), r = random_tensor({T, d}, seed, 2);
  RunResult out;
  out.y = L.forward(x, true, 0).clone();
  L.zero_grad();
  out.dx = L.backward(r).clone();
  out.retrieved = L.retrieved();
  for (Parameter* p : L.parameters()) {
    if (p->sparse) {
      out.rows.push_back(p->sparse_grad.rows);
      out.values.push_back(p->sparse_grad.values.clone());
    } else if (!p->buffer) {
      out.dense.push_back(p->grad.clone());
    }
  }
  return out;
}

void check_same_sparse(const RunResult& a, const RunResult& b) {
  CHECK(a.retrieved == b.retrieved);
  REQUIRE(a.rows.size() == b.rows.size());
  for (size_t i = 0; i < a.rows.size(); ++i) {
    INFO("sparse parameter " << i);
    CHECK(a.rows[i] == b.rows[i]);
    CHECK(same_bits(a.values[i], b.values[i]));
  }
}

}  // namespace

TEST_CASE("identical layers give bit-identical outputs and gradients; 1 and 2 threads give identical sparse "
          "gradients",
          "[peer][determinism]") {
  RunResult a = run_layer(101), b = run_layer(101);
  CHECK(same_bits(a.y, b.y));
  CHECK(same_bits(a.dx, b.dx));
  check_same_sparse(a, b);
  REQUIRE(a.dense.size() == b.dense.size());
  for (size_t i = 0; i < a.dense.size(); ++i) CHECK(same_bits(a.dense[i], b.dense[i]));
  // Many tokens retrieve the same rows, so the scatter sums several contributions per row.
  CHECK(a.rows[2].size() * 2 < a.retrieved.size());
  RunResult one, two;
  {
    ThreadGuard threads(1);
    one = run_layer(101);
  }
  {
    ThreadGuard threads(2);
    two = run_layer(101);
  }
  check_same_sparse(one, two);
  CHECK(same_bits(one.y, two.y));
}
