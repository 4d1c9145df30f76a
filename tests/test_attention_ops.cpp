// The ops of the dense step on the CPU run the element math the CUDA kernels run
// (core/ops/attention_math.h), and their id and residual entry points behave like the loops they
// replaced. Bit-exact checks: inputs are small integers, so every dot product is exact whatever
// its order, and what remains to compare is the shared element math and the row sums.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "core/nn/dropout.h"
#include "core/nn/embedding.h"
#include "core/ops/add.h"
#include "core/ops/attention.h"
#include "core/ops/attention_math.h"
#include "core/rng.h"
#include "tests/gradcheck.h"

using namespace peer;
using gradcheck::copy_of;
using gradcheck::random_tensor;

namespace {

// Integers in [-2, 2], drawn from Philox(seed, stream).
Tensor small_integers(std::vector<int64_t> shape, uint64_t seed, uint64_t stream) {
  Tensor t(std::move(shape));
  Philox rng(seed, stream);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = float(int64_t(rng.uniform(uint64_t(i)) * 5.0f) - 2);
  return t;
}

}  // namespace

TEST_CASE("attention op on the CPU: weights and score gradients are the PEER_HD element math, bit for bit",
          "[attention]") {
  const int64_t B = 2, T = 11, H = 3, hs = 4, C = H * hs, ld = 3 * C;  // scale 1/2: exact
  Tensor qkv = small_integers({B * T, ld}, 61, 1), datt = small_integers({B * T, C}, 61, 2);
  // Value rows (v0, 0, 0, 0): a weight's gradient dp = datt_i . v_j is then 0 or a power of two,
  // so each term of a row's sum of p * dp is exact, and the sum rounds the same way whether or not
  // the compiler fuses its multiply-adds.
  for (int64_t r = 0; r < B * T; ++r)
    for (int64_t c = 0; c < C; ++c)
      if (c % hs != 0 || qkv[r * ld + 2 * C + c] == 0.0f) qkv[r * ld + 2 * C + c] = 0.0f;
      else qkv[r * ld + 2 * C + c] = qkv[r * ld + 2 * C + c] > 0.0f ? 1.0f : -2.0f;
  Tensor mask, probs, dropped, att, dprobs, dqkv;
  attention_forward(qkv, B, T, H, nullptr, mask, probs, dropped, att);
  attention_backward(qkv, probs, dropped, nullptr, mask, datt, B, T, H, dprobs, dqkv);
  const float scale = 1.0f / std::sqrt(float(hs));
  auto dot = [&](const float* a, const float* b) {
    float s = 0.0f;
    for (int64_t d = 0; d < hs; ++d) s += a[d] * b[d];
    return s;
  };
  int64_t differ = 0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        const float* q = qkv.data() + (b * T + i) * ld + h * hs;
        const float* g = datt.data() + (b * T + i) * C + h * hs;
        std::vector<float> s(T, 0.0f), p(T, 0.0f), ds(T, 0.0f);
        float mx = -INFINITY, sum = 0.0f, pdp = 0.0f;
        for (int64_t j = 0; j <= i; ++j) {
          s[j] = dot(q, qkv.data() + (b * T + j) * ld + C + h * hs);
          mx = std::max(mx, s[j] * scale);
        }
        for (int64_t j = 0; j <= i; ++j) sum += (p[j] = attention_weight(s[j], scale, mx));
        for (int64_t j = 0; j <= i; ++j) p[j] *= 1.0f / sum;
        for (int64_t j = 0; j <= i; ++j) ds[j] = dot(g, qkv.data() + (b * T + j) * ld + 2 * C + h * hs);
        for (int64_t j = 0; j <= i; ++j) pdp += p[j] * ds[j];
        for (int64_t j = 0; j <= i; ++j) ds[j] = attention_score_grad(p[j], ds[j], pdp, scale);
        const int64_t row = ((b * H + h) * T + i) * T;
        differ += std::memcmp(p.data(), probs.data() + row, T * sizeof(float)) != 0;
        differ += std::memcmp(ds.data(), dprobs.data() + row, T * sizeof(float)) != 0;
      }
  CHECK(differ == 0);
  int64_t nonzero = 0;  // the score gradients are not all zero: the check compares something
  for (int64_t e = 0; e < dprobs.numel(); ++e) nonzero += dprobs[e] != 0.0f;
  CHECK(nonzero > dprobs.numel() / 4);
}

TEST_CASE("attention op on the CPU: the dropped weights and their gradients follow the PEER_HD dropout rule",
          "[attention][dropout]") {
  // The CUDA kernels draw weight j of row i of head bh as element bh*T*T + i*T + j of the rule
  // (ops/cuda/attention.cu); this pins the CPU to the same indices.
  const int64_t B = 2, T = 13, H = 3, hs = 4, C = H * hs, ld = 3 * C;
  const float p = 0.1f;
  const uint64_t step = 5;
  Tensor qkv = random_tensor({B * T, ld}, 64, 1), datt = random_tensor({B * T, C}, 64, 2);
  const DropoutRule rule = dropout_rule(p, 64, kStreamLayer + 1, step);
  Tensor mask, probs, dropped, att, dprobs, dqkv;
  attention_forward(qkv, B, T, H, &rule, mask, probs, dropped, att);
  attention_backward(qkv, probs, dropped, &rule, mask, datt, B, T, H, dprobs, dqkv);
  auto factor = [&](int64_t e) { return dropout_factor(rule, dropout_draw(dropout_block(rule, e / 8), e)); };
  int64_t wrong = 0, zeros = 0;
  for (int64_t e = 0; e < probs.numel(); ++e) {
    const float want = probs[e] * factor(e);
    wrong += std::memcmp(&want, &dropped[e], sizeof(float)) != 0;
    zeros += (e % T <= e / T % T) && factor(e) == 0.0f;  // dropped weights on or below the diagonal
  }
  CHECK(wrong == 0);
  CHECK(zeros > 0);
  // Score gradients: softmax backward of dp_j * factor_j, in double, against the op's floats.
  const double scale = 1.0 / std::sqrt(double(hs));
  double max_err = 0.0;
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        const int64_t row = ((b * H + h) * T + i) * T;
        std::vector<double> dp(size_t(i + 1));
        double pdp = 0.0;
        for (int64_t j = 0; j <= i; ++j) {
          double acc = 0.0;
          for (int64_t d = 0; d < hs; ++d)
            acc += double(datt[(b * T + i) * C + h * hs + d]) * qkv[(b * T + j) * ld + 2 * C + h * hs + d];
          dp[size_t(j)] = acc * factor(row + j);
          pdp += probs[row + j] * dp[size_t(j)];
        }
        for (int64_t j = 0; j <= i; ++j)
          max_err = std::max(max_err, std::fabs(probs[row + j] * (dp[size_t(j)] - pdp) * scale - dprobs[row + j]));
      }
  CHECK(max_err < 1e-5);
}

TEST_CASE("Embedding: an I32 id tensor and a host id array give the same rows and gradients", "[embedding]") {
  const int64_t num = 7, dim = 5;
  const std::vector<int32_t> ids = {6, 0, 3, 3, 1, 6, 6, 2, 0};
  const int64_t n = int64_t(ids.size());
  Tensor id_tensor({n}, Device::CPU, DType::I32);
  std::copy(ids.begin(), ids.end(), id_tensor.data_i32());
  Tensor dy = random_tensor({n, dim}, 62, 2);
  Embedding a("a", num, dim), b("b", num, dim);
  gradcheck::fill_normal(a.weight.value, 62, 1);
  b.weight.value.copy_from(a.weight.value);
  CHECK(copy_of(a.forward(ids.data(), n)) == copy_of(b.forward(id_tensor)));
  a.backward(dy);
  b.backward(dy);
  CHECK(copy_of(a.weight.grad) == copy_of(b.weight.grad));
  id_tensor.data_i32()[4] = int32_t(num);
  CHECK_THROWS_AS(b.forward(id_tensor), std::out_of_range);
}

TEST_CASE("add op: the sum of its operands, in place too", "[tensor]") {
  Tensor a = random_tensor({3, 10}, 63, 1), b = random_tensor({3, 10}, 63, 2), out;
  add(a, b, out);
  REQUIRE(out.shape() == a.shape());
  for (int64_t i = 0; i < a.numel(); ++i) CHECK(out[i] == a[i] + b[i]);
  add(out, b, out);
  for (int64_t i = 0; i < a.numel(); ++i) CHECK(out[i] == (a[i] + b[i]) + b[i]);
  CHECK_THROWS_AS(add(a, Tensor({4}), out), std::invalid_argument);
}
