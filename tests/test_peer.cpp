// PEER: product-key top-k against brute force (random and crafted ties), the PEER layer against
// a plain reference written here, finite-difference gradients of every parameter group (row-sparse
// ones densified from sparse_grad), the row set of the sparse gradients, expert pools with
// freezing, row-sparse AdamW (lazy and dense) against hand-written Adam, and determinism.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/optim/adamw.h"
#include "core/parallel.h"
#include "gradcheck.h"
#include "thread_guard.h"
#include "peer/peer_layer.h"
#include "peer/product_keys.h"

using namespace peer;
using namespace peer::gradcheck;

namespace {

// ---- Retrieval helpers ----------------------------------------------------------------------

// Sub-key tables owned by the test; view() is what the retrieval functions read.
struct Tables {
  int64_t n1, n2, half;
  std::vector<float> c1, c2;  // (n1, half), (n2, half)
  KeyTables view() const { return {c1.data(), c2.data(), n1, n2, half}; }
};

Tables random_tables(int64_t n1, int64_t n2, int64_t half, uint64_t seed) {
  Tables t{n1, n2, half, std::vector<float>(n1 * half), std::vector<float>(n2 * half)};
  Philox a(seed, 101), b(seed, 102);
  const float s = 1.0f / std::sqrt(float(half));
  for (size_t i = 0; i < t.c1.size(); ++i) t.c1[i] = s * a.normal(i);
  for (size_t i = 0; i < t.c2.size(); ++i) t.c2[i] = s * b.normal(i);
  return t;
}

// Q query rows of width d_key at leading dimension ldq >= d_key; the padding holds 1e3, which a
// wrong stride would read as part of a query.
std::vector<float> random_queries(int64_t Q, int64_t d_key, int64_t ldq, uint64_t seed) {
  std::vector<float> q(Q * ldq);
  Philox rng(seed, 103);
  for (int64_t r = 0; r < Q; ++r)
    for (int64_t j = 0; j < ldq; ++j) q[r * ldq + j] = j < d_key ? rng.normal(uint64_t(r * ldq + j)) : 1e3f;
  return q;
}

struct TopK {
  std::vector<int32_t> index;
  std::vector<float> score;
};

TopK run_topk(bool product, const std::vector<float>& q, int64_t Q, int64_t ldq, const KeyTables& keys, int64_t k) {
  TopK out{std::vector<int32_t>(Q * k, -1), std::vector<float>(Q * k, NAN)};
  if (product) product_key_topk(q.data(), Q, ldq, keys, k, out.index.data(), out.score.data());
  else brute_force_topk(q.data(), Q, ldq, keys, k, out.index.data(), out.score.data());
  return out;
}

bool better(float s, int64_t i, float t, int64_t j) { return s > t || (s == t && i < j); }

// Every row of r is strictly ordered by (score desc, index asc) and holds indices in [0, N).
void check_ordered(const TopK& r, int64_t Q, int64_t k, int64_t N, const std::string& what) {
  int64_t bad = 0;
  std::string first;
  for (int64_t q = 0; q < Q; ++q)
    for (int64_t j = 0; j < k; ++j) {
      const int64_t a = q * k + j;
      const bool in_range = r.index[a] >= 0 && r.index[a] < N;
      const bool ordered = j == 0 || better(r.score[a - 1], r.index[a - 1], r.score[a], r.index[a]);
      if (!in_range || !ordered) {
        if (bad++ == 0)
          first = "query " + std::to_string(q) + " position " + std::to_string(j) + " index " +
                  std::to_string(r.index[a]) + " score " + std::to_string(r.score[a]);
      }
    }
  INFO(what << ": " << bad << " misordered entries, first: " << first);
  CHECK(bad == 0);
}

// a and b hold the same indices and bit-identical scores.
void check_identical(const TopK& a, const TopK& b, int64_t Q, int64_t k, const std::string& what) {
  int64_t bad = 0;
  std::string first;
  for (int64_t i = 0; i < Q * k; ++i) {
    if (a.index[i] == b.index[i] && std::memcmp(&a.score[i], &b.score[i], sizeof(float)) == 0) continue;
    if (bad++ == 0) {
      char buf[256];
      std::snprintf(buf, sizeof buf, "query %lld position %lld: product (%d, %.9g) brute (%d, %.9g)",
                    (long long)(i / k), (long long)(i % k), a.index[i], a.score[i], b.index[i], b.score[i]);
      first = buf;
    }
  }
  INFO(what << ": " << bad << " of " << Q * k << " entries differ, first: " << first);
  CHECK(bad == 0);
}

void compare_paths(const Tables& t, const std::vector<float>& q, int64_t Q, int64_t ldq, int64_t k,
                   const std::string& what) {
  const int64_t N = t.n1 * t.n2;
  TopK fast = run_topk(true, q, Q, ldq, t.view(), k);
  TopK slow = run_topk(false, q, Q, ldq, t.view(), k);
  check_identical(fast, slow, Q, k, what);
  check_ordered(fast, Q, k, N, what + " (product keys)");
  check_ordered(slow, Q, k, N, what + " (brute force)");
}

std::string case_name(int64_t n1, int64_t n2, int64_t k, int64_t d_key, int64_t Q) {
  return "n1=" + std::to_string(n1) + " n2=" + std::to_string(n2) + " k=" + std::to_string(k) +
         " d_key=" + std::to_string(d_key) + " Q=" + std::to_string(Q);
}

// ---- Layer helpers --------------------------------------------------------------------------

PeerOptions options(int64_t heads, int64_t top_k, int64_t d_key, Activation act, bool bn) {
  PeerOptions o;
  o.heads = heads;
  o.top_k = top_k;
  o.d_key = d_key;
  o.activation = act;
  o.query_batchnorm = bn;
  return o;
}

// BatchNorm affine parameters away from their (1, 0) initial values so they matter.
void randomise_bn(PeerLayer& L, uint64_t seed) {
  if (!L.query_bn) return;
  fill_normal(L.query_bn->weight.value, seed, 201, 0.3f, 1.0f);
  fill_normal(L.query_bn->bias.value, seed, 202, 0.2f);
}

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

// The dense gradient of a row-sparse parameter: its sparse_grad rows, zero elsewhere.
std::vector<float> densify(const Parameter& p) {
  const int64_t w = p.value.dim(1);
  std::vector<float> g(p.value.numel(), 0.0f);
  for (size_t r = 0; r < p.sparse_grad.rows.size(); ++r)
    std::copy(p.sparse_grad.values.data() + int64_t(r) * w, p.sparse_grad.values.data() + int64_t(r + 1) * w,
              g.data() + int64_t(p.sparse_grad.rows[r]) * w);
  return g;
}

std::vector<int32_t> sorted_unique(std::vector<int32_t> v) {
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

bool same_bits(const float* a, const float* b, int64_t n) { return n == 0 || std::memcmp(a, b, n * sizeof(float)) == 0; }
bool same_bits(const Tensor& a, const Tensor& b) { return a.numel() == b.numel() && same_bits(a.data(), b.data(), a.numel()); }

// The retrieval of the last forward as a byte pattern (for gradcheck's kinks option), plus the
// sign of u . x of each retrieved expert under ReLU. A perturbation that changes either changes
// a discrete choice, where a finite difference means nothing.
std::vector<uint8_t> retrieval_pattern(PeerLayer& L, const Tensor& x, Activation act, int64_t per_token) {
  std::vector<uint8_t> out;
  const auto& g = L.retrieved();
  for (int32_t i : g) {
    uint8_t b[4];
    std::memcpy(b, &i, 4);
    out.insert(out.end(), b, b + 4);
  }
  if (act == Activation::ReLU) {
    const int64_t d = x.dim(1);
    for (size_t a = 0; a < g.size(); ++a) {
      int64_t l = g[a];
      size_t p = 0;
      while (l >= L.pools[p]->shape.size()) l -= L.pools[p++]->shape.size();
      const int64_t t = int64_t(a) / per_token;
      float pre = 0.0f;
      for (int64_t i = 0; i < d; ++i) pre += L.pools[p]->U.value[l * d + i] * x[t * d + i];
      out.push_back(pre > 0.0f);
    }
  }
  return out;
}

}  // namespace

// =============================================================================================
// 1. Retrieval: product keys == brute force
// =============================================================================================

TEST_CASE("product-key top-k equals brute force on random queries, N = 16 .. 65536", "[peer][retrieval]") {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{4, 4},   {8, 2},     {2, 8},    {32, 32},
                                                           {100, 37}, {256, 256}};
  uint64_t seed = 1000;
  for (auto [n1, n2] : shapes)
    for (int64_t d_key : {2, 8, 128})
      for (int64_t k : {1, 2, 7, 16, 64}) {
        const int64_t N = n1 * n2;
        if (k > N) continue;
        // More than one 64-query block, fewer queries where brute force is O(N) per query.
        const int64_t Q = N <= 4096 ? 131 : 70;
        const int64_t ldq = d_key + (seed % 2 ? 3 : 0);  // also a padded query matrix
        ++seed;
        Tables t = random_tables(n1, n2, d_key / 2, seed);
        std::vector<float> q = random_queries(Q, d_key, ldq, seed);
        const std::string what = case_name(n1, n2, k, d_key, Q) + " ldq=" + std::to_string(ldq);
        compare_paths(t, q, Q, ldq, k, what);
        if (ldq != d_key) {  // the padded matrix gives the result of the packed one
          std::vector<float> packed(Q * d_key);
          for (int64_t r = 0; r < Q; ++r) std::copy_n(q.data() + r * ldq, d_key, packed.data() + r * d_key);
          check_identical(run_topk(true, q, Q, ldq, t.view(), k), run_topk(false, packed, Q, d_key, t.view(), k), Q,
                          k, what + " padded vs packed");
        }
      }
}

TEST_CASE("product-key top-k equals brute force at N = 2^20", "[peer][retrieval]") {
  const int64_t n1 = 1024, n2 = 1024, Q = 64;
  for (int64_t d_key : {8, 128})
    for (int64_t k : {16, 64}) {
      Tables t = random_tables(n1, n2, d_key / 2, 77 + d_key);
      std::vector<float> q = random_queries(Q, d_key, d_key, 78 + d_key + k);
      compare_paths(t, q, Q, d_key, k, case_name(n1, n2, k, d_key, Q));
    }
}

TEST_CASE("product-key top-k with k > n1 or k > n2, up to k = N", "[peer][retrieval]") {
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{3, 50}, {50, 3}, {1, 40}, {40, 1}, {5, 5}};
  for (auto [n1, n2] : shapes)
    for (int64_t k : {int64_t(16), int64_t(25), n1 * n2}) {
      if (k > n1 * n2) continue;
      Tables t = random_tables(n1, n2, 4, 300 + n1 + k);
      std::vector<float> q = random_queries(70, 8, 8, 301 + n2 + k);
      compare_paths(t, q, 70, 8, k, case_name(n1, n2, k, 8, 70));
    }
}

TEST_CASE("product-key top-k equals brute force under exact ties, ordered by score then index",
          "[peer][retrieval][ties]") {
  // Integer sub-keys from 3 distinct integer rows (so rows repeat) and integer queries: every
  // score is an exact small integer in float, so many of the N sums tie exactly, also at the
  // top-k boundary. The big shape (n >= 8k) also takes the vectorised scan with its lower bound.
  // The oracle here is a full sort of all N sums (exact in double), independent of both paths.
  ThreadGuard threads(1);  // hundreds of small calls: see ThreadGuard
  struct Shape {
    int64_t n1, n2;
    std::vector<int64_t> ks;
  };
  std::vector<int64_t> all_k(63);
  std::iota(all_k.begin(), all_k.end(), 1);
  const std::vector<Shape> shapes = {{7, 9, all_k}, {64, 72, {1, 2, 3, 4, 5, 7, 8, 16, 64}}};
  for (const Shape& sh : shapes)
    for (int64_t half : {1, 4}) {
      const int64_t n1 = sh.n1, n2 = sh.n2, N = n1 * n2, Q = 97;
      Tables t{n1, n2, half, std::vector<float>(n1 * half), std::vector<float>(n2 * half)};
      Philox rng(5 + half, 1);
      auto pattern = [&](int64_t which, int64_t j) { return float(int64_t((which * 7 + j * 3) % 5) - 2); };
      for (int64_t i = 0; i < n1; ++i)
        for (int64_t j = 0; j < half; ++j) t.c1[i * half + j] = pattern(int64_t(rng.below(3, uint64_t(i))), j);
      for (int64_t i = 0; i < n2; ++i)
        for (int64_t j = 0; j < half; ++j)
          t.c2[i * half + j] = pattern(int64_t(rng.below(3, uint64_t(100000 + i))), j);
      std::vector<float> q(Q * 2 * half);
      for (size_t i = 0; i < q.size(); ++i) q[i] = float(int64_t(rng.below(3, 200000 + i)) - 1);  // {-1, 0, 1}
      std::fill(q.begin(), q.begin() + 2 * half, 0.0f);  // query 0: every score is 0, all N tie
      // The oracle: every query's N sums sorted by (score desc, index asc).
      std::vector<std::vector<std::pair<double, int64_t>>> sorted(Q);
      for (int64_t r = 0; r < Q; ++r) {
        for (int64_t a = 0; a < n1; ++a)
          for (int64_t b = 0; b < n2; ++b) {
            double s = 0.0;
            for (int64_t j = 0; j < half; ++j)
              s += double(q[r * 2 * half + j]) * t.c1[a * half + j] +
                   double(q[r * 2 * half + half + j]) * t.c2[b * half + j];
            sorted[r].emplace_back(s, a * n2 + b);
          }
        std::sort(sorted[r].begin(), sorted[r].end(), [](const auto& x, const auto& y) {
          return x.first > y.first || (x.first == y.first && x.second < y.second);
        });
      }
      int64_t tied_at_boundary = 0;
      for (int64_t k : sh.ks) {
        const std::string what =
            "ties: n1=" + std::to_string(n1) + " n2=" + std::to_string(n2) + " half=" + std::to_string(half) +
            " k=" + std::to_string(k);
        compare_paths(t, q, Q, 2 * half, k, what);
        TopK slow = run_topk(false, q, Q, 2 * half, t.view(), k);
        int64_t bad = 0;
        for (int64_t r = 0; r < Q; ++r) {
          if (k < N && sorted[r][k - 1].first == sorted[r][k].first) ++tied_at_boundary;
          for (int64_t j = 0; j < k; ++j)
            bad += slow.index[r * k + j] != sorted[r][j].second || double(slow.score[r * k + j]) != sorted[r][j].first;
        }
        INFO(what << ": brute force differs from the full sort in " << bad << " entries");
        CHECK(bad == 0);
      }
      // The crafted data really produce ties at the top-k boundary (the hard case).
      CHECK(tied_at_boundary > 100);
      // Query 0 scores 0 everywhere: the result is experts 0..k-1 in index order.
      TopK all_tied = run_topk(true, q, 1, 2 * half, t.view(), 10);
      for (int64_t j = 0; j < 10; ++j) CHECK(all_tied.index[j] == j);
    }
}

TEST_CASE("product-key top-k equals brute force when float rounding makes sums tie", "[peer][retrieval][ties]") {
  // q1 . C1 = {0, 2^-25} (expert row 1 is strictly better in the first half), q2 . C2 = {1, -1}.
  // In float, 1 + 2^-25 rounds to 1, so the sums of experts (0,0) (index 0) and (1,0) (index 2) tie at
  // exactly 1.0f and the tie rule (index ascending) puts expert 0 first. Brute force over the N
  // float sums does exactly that; the header promises the product path is identical.
  Tables t{2, 2, 1, {0.0f, std::ldexp(1.0f, -25)}, {1.0f, -1.0f}};
  std::vector<float> q = {1.0f, 1.0f};
  REQUIRE(1.0f + std::ldexp(1.0f, -25) == 1.0f);
  for (int64_t k : {1, 2, 3, 4}) compare_paths(t, q, 1, 2, k, "rounding ties k=" + std::to_string(k));
}

TEST_CASE("retrieval refuses k outside [1, min(N, 4096)]", "[peer][retrieval]") {
  Tables t = random_tables(4, 4, 2, 9);
  std::vector<float> q = random_queries(2, 4, 4, 9);
  std::vector<int32_t> idx(2 * 17);
  std::vector<float> sc(2 * 17);
  for (int64_t k : {0, 17}) {
    CHECK_THROWS_AS(product_key_topk(q.data(), 2, 4, t.view(), k, idx.data(), sc.data()), std::invalid_argument);
    CHECK_THROWS_AS(brute_force_topk(q.data(), 2, 4, t.view(), k, idx.data(), sc.data()), std::invalid_argument);
  }
  CHECK_THROWS_AS(PeerLayer("p", 4, options(1, 17, 4, Activation::GELU, false), {4, 4}, InitScheme::Kaiming, 1),
                  std::invalid_argument);
  CHECK_THROWS_AS(PeerLayer("p", 4, options(1, 2, 3, Activation::GELU, false), {4, 4}, InitScheme::Kaiming, 1),
                  std::invalid_argument);
}

// =============================================================================================
// 2. The layer's forward against the plain reference
// =============================================================================================

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

// =============================================================================================
// 3. Finite-difference gradients
// =============================================================================================

// =============================================================================================
// 4. Sparse gradients touch exactly the retrieved rows
// =============================================================================================

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

// =============================================================================================
// 5. Pools: retrieval across pools and frozen pools
// =============================================================================================

TEST_CASE("retrieval over several pools equals brute force over their concatenation", "[peer][pools]") {
  const int64_t d = 8, T = 16, H = 2, k = 5, dk = 4, half = dk / 2;
  const PeerOptions o = options(H, k, dk, Activation::GELU, true);
  PeerLayer L("peer", d, o, {4, 5}, InitScheme::Kaiming, 71);
  CHECK(L.add_pool({3, 7}) == 1);
  CHECK(L.add_pool({6, 2}) == 2);
  REQUIRE(L.num_experts() == 20 + 21 + 12);
  Tensor x = random_tensor({T, d}, 71, 1);
  L.forward(x, true, 0);
  // The same float queries the layer used (same modules, same input), then every pool's float
  // sub-scores from the one shared kernel over all Q = T*H <= 64 rows, as retrieval computes
  // them, so scores compare bit for bit.
  Tensor q = L.query.forward(x).clone();
  q = L.query_bn->forward(q, true).clone();
  const int64_t Q = T * H;
  REQUIRE(Q <= 64);
  std::vector<std::vector<std::pair<float, int64_t>>> all(Q);
  int64_t offset = 0;
  for (auto& pool : L.pools) {
    const int64_t n1 = pool->shape.n1, n2 = pool->shape.n2;
    REQUIRE(pool->keys().half == half);
    std::vector<float> s1(Q * n1), s2(Q * n2);
    sub_scores(q.data(), Q, dk, pool->keys(), s1.data(), s2.data());
    for (int64_t r = 0; r < Q; ++r)
      for (int64_t a = 0; a < n1; ++a)
        for (int64_t b = 0; b < n2; ++b) all[r].emplace_back(s1[r * n1 + a] + s2[r * n2 + b], offset + a * n2 + b);
    offset += n1 * n2;
  }
  std::vector<int32_t> index;
  std::vector<float> score;
  std::vector<int64_t> per_pool(3, 0);
  for (int64_t r = 0; r < Q; ++r) {
    std::sort(all[r].begin(), all[r].end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    for (int64_t j = 0; j < k; ++j) {
      index.push_back(int32_t(all[r][j].second));
      score.push_back(all[r][j].first);
      per_pool[all[r][j].second < 20 ? 0 : all[r][j].second < 41 ? 1 : 2]++;
    }
  }
  CHECK(L.retrieved() == index);
  CHECK(L.scores() == score);
  INFO("retrievals per pool " << per_pool[0] << " " << per_pool[1] << " " << per_pool[2]);
  for (int64_t c : per_pool) CHECK(c > 0);  // every pool takes part
}

TEST_CASE("a frozen pool gets no gradient rows and no optimizer state, dx still matches finite differences",
          "[peer][pools][grad]") {
  ThreadGuard threads(1);  // thousands of tiny forwards: see ThreadGuard
  const int64_t d = 6, T = 10, H = 2, k = 3;
  const PeerOptions o = options(H, k, 4, Activation::GELU, true);
  PeerLayer L("peer", d, o, {4, 4}, InitScheme::Kaiming, 81);
  L.add_pool({3, 5});
  L.add_pool({5, 2});
  L.pools[1]->set_frozen(true);
  CHECK(L.pools[1]->frozen());
  randomise_bn(L, 81);
  Tensor x = random_tensor({T, d}, 81, 1), r = random_tensor({T, d}, 81, 2);
  auto loss = [&] { return project(L.forward(x, true, 0), r); };
  loss();
  int64_t in_frozen = 0;
  for (int32_t g : L.retrieved()) in_frozen += g >= 16 && g < 31;
  REQUIRE(in_frozen > 0);  // the frozen pool's experts are retrieved (and shape the output)
  L.zero_grad();
  std::vector<float> dx = copy_of(L.backward(r));
  for (Parameter* p : L.pools[1]->parameters()) {
    INFO(p->name);
    CHECK(p->sparse_grad.rows.empty());
    CHECK(!p->trainable());
  }
  for (size_t pi : {size_t(0), size_t(2)})
    for (Parameter* p : L.pools[pi]->parameters()) {
      INFO(p->name);
      CHECK(!p->sparse_grad.rows.empty());
    }
  std::vector<float> dU2 = densify(L.pools[2]->U);
  Options opt;
  opt.atol = 1e-3;
  opt.rtol = 1e-2;
  opt.eps = 3e-3f;
  opt.max_elements = 1 << 20;
  opt.kinks = [&] {
    L.forward(x, true, 0);
    return retrieval_pattern(L, x, Activation::GELU, H * k);
  };
  auto rx = check_input("x", x, dx, loss, opt);
  REQUIRE_GRAD_OK(rx);
  CHECK(rx.skipped * 4 <= rx.checked);
  REQUIRE_GRAD_OK(check(L.pools[2]->U.name, L.pools[2]->U.value.data(), dU2.data(), L.pools[2]->U.value.numel(),
                        loss, opt));
  // The optimizer keeps no state for the frozen pool and leaves it bit-identical.
  std::vector<Tensor> before;
  for (Parameter* p : L.pools[1]->parameters()) before.push_back(p->value.clone());
  loss();
  L.zero_grad();
  L.backward(r);
  AdamW adam(L.parameters(), AdamWOptions{});
  for (Parameter* p : L.pools[1]->parameters()) CHECK(adam.state().count(p->name) == 0);
  CHECK(adam.state().count(L.pools[0]->U.name) == 1);
  adam.step(1e-2f);
  auto frozen = L.pools[1]->parameters();
  for (size_t i = 0; i < frozen.size(); ++i) CHECK(same_bits(frozen[i]->value, before[i]));
}

// =============================================================================================
// 6. Row-sparse AdamW
// =============================================================================================

TEST_CASE("lazy row-sparse AdamW moves only the touched rows of U and their moments", "[peer][adamw]") {
  const int64_t d = 8, T = 6, H = 2, k = 4, N = 16 * 16;
  PeerLayer L("peer", d, options(H, k, 8, Activation::GELU, true), {16, 16}, InitScheme::Kaiming, 91);
  Parameter& U = L.pools[0]->U;
  U.decay = true;  // decay too must touch only the gradient's rows
  AdamWOptions ao;
  ao.lazy_sparse = true;
  ao.weight_decay = 0.1f;
  AdamW adam({&U}, ao);
  AdamW::Moments& st = adam.state().at(U.name);
  std::set<int32_t> ever;
  for (uint64_t step = 0; step < 3; ++step) {
    Tensor x = random_tensor({T, d}, 91, 10 + step), r = random_tensor({T, d}, 91, 20 + step);
    L.forward(x, true, step);
    L.zero_grad();
    L.backward(r);
    const std::vector<int32_t> touched = U.sparse_grad.rows;
    REQUIRE(!touched.empty());
    REQUIRE(int64_t(touched.size()) < N);
    int64_t untouched_with_state = 0;
    for (int64_t row = 0; row < N; ++row)
      if (ever.count(int32_t(row)) && !std::binary_search(touched.begin(), touched.end(), int32_t(row)))
        ++untouched_with_state;
    if (step > 0) REQUIRE(untouched_with_state > 0);  // rows whose m, v are nonzero but get no gradient
    Tensor w0 = U.value.clone(), m0 = st.m.clone(), v0 = st.v.clone();
    adam.step(1e-2f);
    int64_t moved_untouched = 0, still_touched = 0;
    for (int64_t row = 0; row < N; ++row) {
      const int64_t o = row * d;
      const bool same = same_bits(U.value.data() + o, w0.data() + o, d) && same_bits(st.m.data() + o, m0.data() + o, d) &&
                        same_bits(st.v.data() + o, v0.data() + o, d);
      if (std::binary_search(touched.begin(), touched.end(), int32_t(row))) {
        still_touched += same_bits(U.value.data() + o, w0.data() + o, d) || same_bits(st.v.data() + o, v0.data() + o, d);
      } else {
        moved_untouched += !same;
      }
    }
    INFO("step " << step + 1 << ": " << touched.size() << " touched rows");
    CHECK(moved_untouched == 0);
    CHECK(still_touched == 0);
    ever.insert(touched.begin(), touched.end());
  }
  CHECK(adam.steps() == 3);
}

TEST_CASE("row-sparse AdamW: dense mode equals hand-written dense Adam, lazy mode equals hand-written lazy Adam",
          "[peer][adamw]") {
  const int64_t rows = 6, w = 3;
  const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.1f;
  // Touched rows per step; row 3 is never touched, row 0 first at step 2.
  const std::vector<std::vector<int32_t>> touched = {{1, 4}, {0, 4}, {2, 5}};
  auto grad_of = [&](size_t step, int32_t row, int64_t j) {
    return Philox(7, 900 + step).normal(uint64_t(row * w + j));
  };
  for (bool lazy : {false, true}) {
    Parameter P = Parameter::row_sparse("table", {rows, w}, true);
    fill_normal(P.value, 7, 1);
    AdamWOptions ao;
    ao.beta1 = b1;
    ao.beta2 = b2;
    ao.eps = eps;
    ao.weight_decay = wd;
    ao.lazy_sparse = lazy;
    AdamW adam({&P}, ao);
    std::vector<double> W(P.value.data(), P.value.data() + rows * w), M(rows * w, 0.0), Vv(rows * w, 0.0);
    const std::vector<double> W0 = W;
    for (size_t s = 0; s < touched.size(); ++s) {
      P.sparse_grad.clear();
      Tensor vals({int64_t(touched[s].size()), w});
      for (size_t i = 0; i < touched[s].size(); ++i)
        for (int64_t j = 0; j < w; ++j) vals[int64_t(i) * w + j] = grad_of(s, touched[s][i], j);
      P.sparse_grad.accumulate(touched[s], vals);
      adam.step(lr);
      // Hand-written Adam in double on the densified gradient; lazy skips rows without one.
      const double t = double(s + 1), c1 = 1.0 / (1.0 - std::pow(double(b1), t)),
                   c2 = 1.0 / (1.0 - std::pow(double(b2), t));
      for (int32_t row = 0; row < rows; ++row) {
        const bool has = std::count(touched[s].begin(), touched[s].end(), row) > 0;
        if (lazy && !has) continue;
        for (int64_t j = 0; j < w; ++j) {
          const int64_t e = row * w + j;
          const double g = has ? grad_of(s, row, j) : 0.0;
          M[e] = b1 * M[e] + (1.0 - b1) * g;
          Vv[e] = b2 * Vv[e] + (1.0 - b2) * g * g;
          W[e] -= lr * (M[e] * c1 / (std::sqrt(Vv[e] * c2) + eps) + wd * W[e]);
        }
      }
      // Tolerance: float32 against double over 3 steps; an update is ~lr = 1e-2, a missed
      // moment decay or a wrong bias correction moves a weight by > 1e-4.
      const auto& st = adam.state().at("table");
      double worst = 0.0;
      for (int64_t e = 0; e < rows * w; ++e) {
        worst = std::max(worst, std::fabs(P.value[e] - W[e]) - (1e-6 + 1e-6 * std::fabs(W[e])));
        worst = std::max(worst, std::fabs(st.m[e] - M[e]) - (1e-7 + 1e-5 * std::fabs(M[e])));
        worst = std::max(worst, std::fabs(st.v[e] - Vv[e]) - (1e-9 + 1e-5 * std::fabs(Vv[e])));
      }
      INFO((lazy ? "lazy" : "dense") << " step " << s + 1 << ": worst excess over tolerance " << worst);
      CHECK(worst <= 0.0);
    }
    const auto& st = adam.state().at("table");
    if (lazy) {
      // Row 3 was never touched: weights bit-identical, moments exactly 0.
      for (int64_t j = 0; j < w; ++j) {
        CHECK(P.value[3 * w + j] == float(W0[3 * w + j]));
        CHECK(st.m[3 * w + j] == 0.0f);
        CHECK(st.v[3 * w + j] == 0.0f);
      }
    } else {
      // Dense: row 1 (touched only at step 1) kept decaying: m = b1^2 (1-b1) g1, v = b2^2 (1-b2) g1^2.
      const double g1 = grad_of(0, 1, 0);
      CHECK(st.m[1 * w] == Approx(b1 * b1 * (1.0 - b1) * g1).epsilon(1e-5));
      CHECK(st.v[1 * w] == Approx(b2 * b2 * (1.0 - b2) * g1 * g1).epsilon(1e-5));
    }
  }
}

TEST_CASE("lazy AdamW by hand: a row first touched at step 2 uses the global step's bias correction",
          "[peer][adamw]") {
  const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.1f;
  Parameter P = Parameter::row_sparse("table", {4, 2}, true);
  for (int64_t i = 0; i < 8; ++i) P.value[i] = 0.5f + 0.25f * float(i);
  AdamWOptions ao;
  ao.lazy_sparse = true;
  ao.weight_decay = wd;
  AdamW adam({&P}, ao);
  Tensor g1({1, 2}), g2({1, 2});
  g1[0] = 1.0f, g1[1] = -2.0f;
  g2[0] = 0.3f, g2[1] = -0.7f;
  P.sparse_grad.accumulate({1}, g1);  // step 1 touches row 1 only
  adam.step(lr);
  P.sparse_grad.clear();
  P.sparse_grad.accumulate({2}, g2);  // step 2 touches row 2 only
  const float w0 = P.value[2 * 2 + 0];
  adam.step(lr);
  // Element (2, 0): m = (1-b1) g, v = (1-b2) g^2 (first update of this row); bias correction
  // with t = 2: m_hat = m / (1 - b1^2), v_hat = v / (1 - b2^2);
  // w <- w - lr * (m_hat / (sqrt(v_hat) + eps) + wd * w).
  const double g = 0.3, m = (1.0 - b1) * g, v = (1.0 - b2) * g * g;
  const double m_hat = m / (1.0 - double(b1) * b1), v_hat = v / (1.0 - double(b2) * b2);
  const double expect = w0 - lr * (m_hat / (std::sqrt(v_hat) + eps) + wd * w0);
  CHECK(P.value[4] == Approx(expect).epsilon(1e-6));
  CHECK(adam.state().at("table").m[4] == Approx(m).epsilon(1e-6));
  CHECK(adam.state().at("table").v[4] == Approx(v).epsilon(1e-6));
  // A per-row step count (t = 1 for this row) would give m_hat/sqrt(v_hat) = 1: a different value.
  const double per_row = w0 - lr * (1.0 + wd * w0);
  CHECK(std::fabs(P.value[4] - per_row) > 1e-3);
  // Rows 0 and 3 never touched, row 1 not touched at step 2: unchanged since their last step.
  CHECK(P.value[0] == 0.5f);
  CHECK(P.value[6] == 2.0f);
}

// =============================================================================================
// 7. Determinism
// =============================================================================================

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
