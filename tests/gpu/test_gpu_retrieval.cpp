// CUDA product-key retrieval (peer/product_keys.h) against the GPU brute force over the same
// sub-scores (identical indices and score bits), against the CPU's product keys and brute force
// (the same indices on every row without a near-tie: the GPU's sub-scores differ in the last
// bits), under exact ties that force the brute-force fallback, run to run, and the k range.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/rng.h"
#include "peer/product_keys.h"

using namespace peer;

namespace {

struct Problem {
  int64_t n1, n2, half, Q;
  std::vector<float> c1, c2, q;  // (n1, half), (n2, half), (Q, 2 * half)
  KeyTables host() const { return {c1.data(), c2.data(), n1, n2, half}; }
};

Problem random_problem(int64_t n1, int64_t n2, int64_t half, int64_t Q, uint64_t seed) {
  Problem p{n1, n2, half, Q, std::vector<float>(n1 * half), std::vector<float>(n2 * half),
            std::vector<float>(Q * 2 * half)};
  Philox a(seed, 201), b(seed, 202), c(seed, 203);
  const float s = 1.0f / std::sqrt(float(half));
  for (size_t i = 0; i < p.c1.size(); ++i) p.c1[i] = s * a.normal(i);
  for (size_t i = 0; i < p.c2.size(); ++i) p.c2[i] = s * b.normal(i);
  for (size_t i = 0; i < p.q.size(); ++i) p.q[i] = c.normal(i);
  return p;
}

Tensor on_device(const std::vector<float>& v, int64_t rows, int64_t cols) {
  Tensor t({rows, cols});
  std::copy(v.begin(), v.end(), t.data());
  return t.to(Device::CUDA);
}

struct TopK {
  std::vector<int32_t> index;
  std::vector<float> score;
};

TopK run_cuda(bool product, const Problem& p, int64_t k) {
  const Tensor q = on_device(p.q, p.Q, 2 * p.half), c1 = on_device(p.c1, p.n1, p.half),
               c2 = on_device(p.c2, p.n2, p.half);
  Tensor index, score;
  const KeyTables keys{c1.data(), c2.data(), p.n1, p.n2, p.half};
  if (product) cuda::product_key_topk(q, keys, k, index, score);
  else cuda::brute_force_topk(q, keys, k, index, score);
  const Tensor i = index.to(Device::CPU), s = score.to(Device::CPU);
  return {std::vector<int32_t>(i.data_i32(), i.data_i32() + i.numel()), std::vector<float>(s.data(), s.data() + s.numel())};
}

TopK run_cpu(bool product, const Problem& p, int64_t k) {
  TopK out{std::vector<int32_t>(p.Q * k), std::vector<float>(p.Q * k)};
  if (product) product_key_topk(p.q.data(), p.Q, 2 * p.half, p.host(), k, out.index.data(), out.score.data());
  else brute_force_topk(p.q.data(), p.Q, 2 * p.half, p.host(), k, out.index.data(), out.score.data());
  return out;
}

// Entries where a and b differ in index or score bits.
int64_t differing(const TopK& a, const TopK& b) {
  int64_t bad = 0;
  for (size_t i = 0; i < a.index.size(); ++i)
    bad += a.index[i] != b.index[i] || std::memcmp(&a.score[i], &b.score[i], sizeof(float)) != 0;
  return bad;
}

}  // namespace

TEST_CASE("CUDA product-key top-k: GPU brute force exactly, the CPU's indices away from near-ties", "[gpu]") {
  struct Shape {
    int64_t n1, n2, Q;
  };
  // N from 16 to 2^20, square and not; 16 x 65536 takes several chunks of queries (scratch bound).
  const std::vector<Shape> shapes = {{4, 4, 70},     {16, 64, 70},    {64, 16, 70},   {32, 32, 70},
                                     {128, 128, 70}, {256, 512, 40},  {1024, 1024, 40}, {16, 65536, 300}};
  for (const Shape& sh : shapes)
    for (int64_t k : {1, 4, 16})
      for (uint64_t seed : {1, 2, 3}) {
        const int64_t N = sh.n1 * sh.n2;
        if (k > N) continue;
        const Problem p = random_problem(sh.n1, sh.n2, 32, sh.Q, seed * 1000 + uint64_t(N));
        const std::string what = std::to_string(sh.n1) + "x" + std::to_string(sh.n2) + " k=" + std::to_string(k) +
                                 " seed=" + std::to_string(seed);
        const TopK pk = run_cuda(true, p, k), bf = run_cuda(false, p, k);
        INFO(what);
        CHECK(differing(pk, bf) == 0);
        // The CPU with one more place shows each row's gap below the k-th score.
        const int64_t k1 = std::min(k + 1, N);
        const TopK cpu = run_cpu(true, p, k1);
        int64_t clear = 0, bad = 0;
        for (int64_t r = 0; r < p.Q; ++r) {
          bool near_tie = false;
          for (int64_t j = 0; j + 1 < k1; ++j)
            near_tie |= cpu.score[r * k1 + j] - cpu.score[r * k1 + j + 1] <= 1e-4f * (1.0f + std::fabs(cpu.score[r * k1 + j]));
          if (near_tie) continue;
          ++clear;
          for (int64_t j = 0; j < k; ++j)
            bad += pk.index[r * k + j] != cpu.index[r * k1 + j] ||
                   !(std::fabs(pk.score[r * k + j] - cpu.score[r * k1 + j]) <= 1e-4f * (1.0f + std::fabs(cpu.score[r * k1 + j])));
        }
        CHECK(bad == 0);
        CHECK(clear * 10 >= p.Q * 9);  // near-ties are rare in random data
        if (N <= (1 << 16)) {  // the CPU brute force is the CPU product keys (tests/test_peer_retrieval.cpp)
          const TopK cpu_bf = run_cpu(false, p, k);
          int64_t bf_bad = 0;
          for (int64_t r = 0; r < p.Q; ++r)
            for (int64_t j = 0; j < k; ++j) bf_bad += cpu_bf.index[r * k + j] != cpu.index[r * k1 + j];
          CHECK(bf_bad == 0);
        }
      }
}

TEST_CASE("CUDA product-key top-k under exact ties takes the brute-force fallback and equals the CPU", "[gpu]") {
  // Integer sub-keys and queries (tests/test_peer_retrieval.cpp): every sub-score and sum is an
  // exact small integer on both backends, so results must be bit-identical to the CPU's, and many
  // rows tie at the k-th place with pairs the merge leaves out (merge_half_topk returns false).
  for (int64_t half : {1, 4})
    for (auto [n1, n2] : {std::pair<int64_t, int64_t>{7, 9}, {64, 72}}) {
      const int64_t Q = 97;
      Problem p{n1, n2, half, Q, std::vector<float>(n1 * half), std::vector<float>(n2 * half),
                std::vector<float>(Q * 2 * half)};
      Philox rng(5 + half, 1);
      auto pattern = [&](int64_t which, int64_t j) { return float(int64_t((which * 7 + j * 3) % 5) - 2); };
      for (int64_t i = 0; i < n1; ++i)
        for (int64_t j = 0; j < half; ++j) p.c1[i * half + j] = pattern(int64_t(rng.below(3, uint64_t(i))), j);
      for (int64_t i = 0; i < n2; ++i)
        for (int64_t j = 0; j < half; ++j) p.c2[i * half + j] = pattern(int64_t(rng.below(3, uint64_t(100000 + i))), j);
      for (size_t i = 0; i < p.q.size(); ++i) p.q[i] = float(int64_t(rng.below(3, 200000 + i)) - 1);
      std::fill(p.q.begin(), p.q.begin() + 2 * half, 0.0f);  // query 0: all N sums are 0
      for (int64_t k : {1, 2, 3, 5, 8, 16, 33, 64}) {
        if (k > n1 * n2) continue;
        INFO("ties " << n1 << "x" << n2 << " half=" << half << " k=" << k);
        const TopK pk = run_cuda(true, p, k), bf = run_cuda(false, p, k), cpu = run_cpu(false, p, k);
        CHECK(differing(pk, cpu) == 0);
        CHECK(differing(bf, cpu) == 0);
        // Query 0 ties everywhere (its merge frontier ties the k-th score, so the fallback runs):
        // experts 0..k-1.
        for (int64_t j = 0; j < k; ++j) CHECK(pk.index[j] == j);
      }
    }
  // Float rounding ties (1 + 2^-25 == 1): experts 0 and 2 tie at 1.0f, index 0 first.
  Problem p{2, 2, 1, 1, {0.0f, std::ldexp(1.0f, -25)}, {1.0f, -1.0f}, {1.0f, 1.0f}};
  for (int64_t k : {1, 2, 3, 4}) CHECK(differing(run_cuda(true, p, k), run_cpu(false, p, k)) == 0);
}

TEST_CASE("CUDA product-key top-k is the same run to run and refuses k outside [1, min(N, 64)]", "[gpu]") {
  const Problem p = random_problem(512, 512, 64, 1000, 7);
  CHECK(differing(run_cuda(true, p, 16), run_cuda(true, p, 16)) == 0);
  CHECK_NOTHROW(run_cuda(true, p, 64));
  CHECK_THROWS_WITH(run_cuda(true, p, 65), Catch::Contains("k = 65"));
  CHECK_THROWS_WITH(run_cuda(false, p, 0), Catch::Contains("k = 0"));
  const Problem tiny = random_problem(2, 3, 4, 5, 8);
  CHECK_THROWS_WITH(run_cuda(true, tiny, 7), Catch::Contains("k = 7"));
  CHECK_NOTHROW(run_cuda(true, tiny, 6));
}
