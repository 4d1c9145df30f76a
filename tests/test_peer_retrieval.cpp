// Product-key retrieval (peer/product_keys.h): top-k against brute force on random queries up to
// N = 2^20, with k beyond a sub-key table, under exact and float-rounding ties, and the k range.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "core/rng.h"
#include "peer/product_keys.h"
#include "tests/peer_layer_setup.h"
#include "thread_guard.h"

using namespace peer;

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

}  // namespace

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
