// The CPU paths run the shared __host__ __device__ math the CUDA kernels run: Philox blocks, the
// dropout mask rule, the cross-entropy row math, attention's softmax row and the product-key
// top-k merge. Each check compares, bit for bit, a CPU path with a plain loop over the shared
// functions (and, for cross-entropy and the softmax row, with the loops they replaced).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "core/nn/dropout.h"
#include "core/ops/cross_entropy.h"
#include "core/ops/dropout_math.h"
#include "core/ops/philox_math.h"
#include "core/ops/softmax_math.h"
#include "core/rng.h"
#include "peer/product_keys.h"
#include "peer/topk_merge.h"

using namespace peer;

namespace {
bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }
bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0; }
}  // namespace

TEST_CASE("shared math: Philox::block and Philox::blocks (AVX2) give the words of philox_block", "[rng][shared]") {
  const uint64_t seed = 0x0123456789abcdefull, stream = kStreamLayer + 5;
  const Philox rng(seed, stream);
  const uint64_t first = (uint64_t(1) << 32) - 13;  // across the counter's 32-bit carry
  const int64_t count = 37;
  std::vector<uint32_t> out(size_t(4 * count));
  rng.blocks(first, count, out.data());
  int64_t wrong = 0;
  for (int64_t b = 0; b < count; ++b) {
    const PhiloxWords w = philox_block(seed, stream, first + uint64_t(b));
    const std::array<uint32_t, 4> one = rng.block(first + uint64_t(b));
    for (int j = 0; j < 4; ++j) wrong += (out[size_t(4 * b + j)] != w.w[j]) + (one[size_t(j)] != w.w[j]);
  }
  CHECK(wrong == 0);
}

TEST_CASE("shared math: the Dropout layer's mask is dropout_factor of dropout_draw, bit for bit", "[dropout][shared]") {
  const float p = GENERATE(0.1f, 0.3f, 0.5f);
  const uint64_t step = GENERATE(uint64_t(0), uint64_t(7), uint64_t(1) << 20);
  const int64_t n = 40000 + 5;  // several parallel chunks and a ragged tail
  CAPTURE(p, step);
  Dropout drop(p, 11, kStreamLayer + 2);
  Tensor ones({n}), y;
  ones.fill(1.0f);
  drop.forward(ones, y, true, step);  // y = 1 * mask = the mask
  const DropoutRule rule = dropout_rule(p, 11, kStreamLayer + 2, step);
  int64_t wrong = 0;
  for (int64_t i = 0; i < n; ++i)
    wrong += !same_bits(y[i], dropout_factor(rule, dropout_draw(dropout_block(rule, i / 8), i)));
  CHECK(wrong == 0);
}

namespace {
// The cross-entropy loop the op replaced (before the row math moved into softmax_math.h).
double reference_cross_entropy(const Tensor& logits, const int32_t* targets, std::vector<double>& row_loss,
                               std::vector<float>& g_all, float grad_scale) {
  const int64_t n = logits.dim(0), v = logits.dim(1);
  row_loss.assign(size_t(n), 0.0);
  g_all.assign(size_t(n * v), 0.0f);
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits.data() + i * v;
    float mx = z[0];
    for (int64_t j = 1; j < v; ++j) mx = std::max(mx, z[j]);
    double sum = 0.0;
    for (int64_t j = 0; j < v; ++j) sum += std::exp(double(z[j] - mx));
    double lse = mx + std::log(sum);
    row_loss[size_t(i)] = lse - z[targets[i]];
    float* g = g_all.data() + i * v;
    float scale = grad_scale / float(n);
    for (int64_t j = 0; j < v; ++j) g[j] = float(std::exp(double(z[j]) - lse)) * scale;
    g[targets[i]] -= scale;
  }
  double total = 0.0;
  for (double l : row_loss) total += l;
  return total / double(n);
}
}  // namespace

TEST_CASE("shared math: the cross_entropy op equals the row functions and the loop they replaced", "[cross_entropy][shared]") {
  const auto [n, v] = GENERATE(std::pair<int64_t, int64_t>{1, 1}, std::pair<int64_t, int64_t>{3, 7},
                               std::pair<int64_t, int64_t>{64, 300}, std::pair<int64_t, int64_t>{9, 5000});
  CAPTURE(n, v);
  const Philox rng(5, 9);
  Tensor logits({n, v}), targets({n}, Device::CPU, DType::I32);
  for (int64_t i = 0; i < n * v; ++i) logits[i] = 4.0f * rng.normal(uint64_t(i));
  for (int64_t i = 0; i < n; ++i) targets.data_i32()[i] = int32_t(rng.below(uint64_t(v), uint64_t(n * v + i)));
  Tensor row_loss, loss, dlogits;
  cross_entropy(logits, targets, row_loss, loss, &dlogits, 0.75f);
  // A plain loop over the shared functions, whole rows as the CPU takes them.
  std::vector<double> ref_rows;
  std::vector<float> ref_g;
  const double ref = reference_cross_entropy(logits, targets.data_i32(), ref_rows, ref_g, 0.75f);
  int64_t wrong_rows = 0, wrong_g = 0, wrong_shared = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits.data() + i * v;
    const float mx = row_max(z, 0, v, 1);
    const double lse = log_sum_exp(mx, row_sum_exp(z, 0, v, 1, mx));
    wrong_shared += !same_bits(row_loss.data_f64()[i], cross_entropy_row_loss(lse, z[targets.data_i32()[i]]));
    wrong_rows += !same_bits(row_loss.data_f64()[i], ref_rows[size_t(i)]);
    std::vector<float> g(static_cast<size_t>(v));
    cross_entropy_row_grad(z, g.data(), 0, v, 1, lse, 0.75f / float(n));
    g[size_t(targets.data_i32()[i])] -= 0.75f / float(n);
    for (int64_t j = 0; j < v; ++j)
      wrong_g += !same_bits(dlogits[i * v + j], g[size_t(j)]) + !same_bits(dlogits[i * v + j], ref_g[size_t(i * v + j)]);
  }
  CHECK(wrong_shared == 0);
  CHECK(wrong_rows == 0);
  CHECK(wrong_g == 0);
  CHECK(same_bits(loss.data_f64()[0], ref));
  targets.data_i32()[n - 1] = int32_t(v);
  CHECK_THROWS_AS(cross_entropy(logits, targets, row_loss, loss, nullptr, 1.0f), std::out_of_range);
}

TEST_CASE("shared math: softmax_row equals attention's softmax loop bit for bit", "[attention][shared]") {
  const Philox rng(21, 3);
  const float scale = 1.0f / std::sqrt(24.0f);
  int64_t wrong = 0;
  for (int64_t n = 1; n <= 70; ++n) {
    std::vector<float> s(static_cast<size_t>(n)), p(s.size()), want(s.size());
    for (int64_t j = 0; j < n; ++j) s[size_t(j)] = 6.0f * rng.normal(uint64_t(100 * n + j));
    softmax_row(s.data(), scale, n, p.data());
    // core/nn/attention.cpp's row loop (row i = n - 1 of a causal block).
    float mx = -INFINITY, sum = 0.0f, *q = want.data();
    for (int64_t j = 0; j < n; ++j) mx = std::max(mx, s[size_t(j)] * scale);
    for (int64_t j = 0; j < n; ++j) sum += (q[j] = std::exp(s[size_t(j)] * scale - mx));
    const float inv = 1.0f / sum;
    for (int64_t j = 0; j < n; ++j) q[j] *= inv;
    for (int64_t j = 0; j < n; ++j) wrong += !same_bits(p[size_t(j)], want[size_t(j)]);
  }
  CHECK(wrong == 0);
}

TEST_CASE("shared math: product_key_topk is merge_half_topk of the half lists (brute force where it declines)",
          "[retrieval][shared]") {
  // Coarse keys (multiples of 1/4) make exact ties common, so both branches run.
  const bool coarse = GENERATE(false, true);
  const int64_t k = GENERATE(1, 4, 16);
  CAPTURE(coarse, k);
  const int64_t n1 = 40, n2 = 24, half = 6, Q = 300;
  const Philox rng(31, 4);
  auto draw = [&](uint64_t i) {
    const float x = rng.normal(i);
    return coarse ? std::round(4.0f * x) / 4.0f : x;
  };
  std::vector<float> c1(size_t(n1 * half)), c2(size_t(n2 * half)), q(size_t(Q * 2 * half));
  for (size_t i = 0; i < c1.size(); ++i) c1[i] = draw(i);
  for (size_t i = 0; i < c2.size(); ++i) c2[i] = draw(10000 + i);
  for (size_t i = 0; i < q.size(); ++i) q[i] = draw(20000 + i);
  const KeyTables keys{c1.data(), c2.data(), n1, n2, half};
  std::vector<int32_t> index(size_t(Q * k)), brute_index(size_t(Q * k));
  std::vector<float> score(size_t(Q * k)), brute_score(size_t(Q * k));
  product_key_topk(q.data(), Q, 2 * half, keys, k, index.data(), score.data());
  brute_force_topk(q.data(), Q, 2 * half, keys, k, brute_index.data(), brute_score.data());

  const size_t kk = static_cast<size_t>(k);
  std::vector<float> s1(static_cast<size_t>(n1)), s2(static_cast<size_t>(n2)), v1(kk + 1), v2(kk + 1), vs(kk);
  std::vector<int32_t> i1(kk + 1), i2(kk + 1), is(kk);
  int64_t wrong = 0, declined = 0;
  for (int64_t r = 0; r < Q; ++r) {
    sub_scores(q.data() + r * 2 * half, 1, 2 * half, keys, s1.data(), s2.data());
    TopList a{v1.data(), i1.data(), 0, std::min(k + 1, n1)}, b{v2.data(), i2.data(), 0, std::min(k + 1, n2)};
    TopList out{vs.data(), is.data(), 0, k};
    for (int64_t j = 0; j < n1; ++j) a.offer(s1[size_t(j)], int32_t(j));
    for (int64_t j = 0; j < n2; ++j) b.offer(s2[size_t(j)], int32_t(j));
    if (!merge_half_topk(a, b, n2, out)) {
      ++declined;
      out.size = 0;
      for (int64_t x = 0; x < n1; ++x)
        for (int64_t y = 0; y < n2; ++y) out.offer(s1[size_t(x)] + s2[size_t(y)], int32_t(x * n2 + y));
    }
    for (int64_t j = 0; j < k; ++j) {
      const size_t at = size_t(r * k + j);
      wrong += index[at] != is[size_t(j)] || !same_bits(score[at], vs[size_t(j)]);
      wrong += brute_index[at] != is[size_t(j)] || !same_bits(brute_score[at], vs[size_t(j)]);
    }
  }
  CHECK(wrong == 0);
  if (coarse && k > 1) CHECK(declined > 0);
  if (!coarse) CHECK(declined < Q);
}
