// Core engine: Philox RNG, gemm, Dropout, AdamW, gradient clipping, the LR schedule, the
// tokenizer and the text dataset.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <limits>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/gemm.h"
#include "core/module.h"
#include "core/nn/dropout.h"
#include "core/optim/adamw.h"
#include "core/optim/schedule.h"
#include "core/rng.h"
#include "core/data/text_dataset.h"
#include "core/data/tokenizer.h"
#include "thread_guard.h"

using namespace peer;

// ---- Philox ---------------------------------------------------------------------------------

TEST_CASE("philox4x32: Random123 known-answer vectors (kat_vectors, Philox4x32-10)", "[rng]") {
  using Ctr = std::array<uint32_t, 4>;
  using Key = std::array<uint32_t, 2>;
  CHECK(philox4x32(Ctr{0, 0, 0, 0}, Key{0, 0}) == Ctr{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  CHECK(philox4x32(Ctr{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, Key{0xffffffffu, 0xffffffffu}) ==
        Ctr{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  CHECK(philox4x32(Ctr{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, Key{0xa4093822u, 0x299f31d0u}) ==
        Ctr{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("Philox: draws are a pure function of (seed, stream, offset)", "[rng]") {
  Philox a(42, 7), b(42, 7), other_seed(43, 7), other_stream(42, 8);
  int same_seed = 0, same_stream = 0;
  for (uint64_t off : {0ull, 1ull, 2ull, 3ull, 4ull, 1000ull, (1ull << 40) + 5}) {
    CHECK(a.bits(off) == b.bits(off));
    CHECK(a.uniform(off) == b.uniform(off));
    CHECK(a.normal(off) == b.normal(off));
    CHECK(a.below(97, off) == b.below(97, off));
    same_seed += a.bits(off) == other_seed.bits(off);
    same_stream += a.bits(off) == other_stream.bits(off);
  }
  CHECK(same_seed == 0);
  CHECK(same_stream == 0);
  // Order of evaluation does not matter (no hidden state).
  float later = a.uniform(12345);
  a.uniform(0);
  CHECK(a.uniform(12345) == later);
  // Neighbouring offsets give different words.
  std::set<uint32_t> words;
  for (uint64_t off = 0; off < 64; ++off) words.insert(a.bits(off));
  CHECK(words.size() == 64);
}

TEST_CASE("Philox: uniform and normal moments over 1e5 draws", "[rng]") {
  // Bounds are about 5 standard errors of the estimate: with n = 1e5 the standard error of a
  // uniform mean is 0.289/sqrt(n) = 9.1e-4, of its variance about 2.4e-4; of a standard normal
  // mean 3.2e-3 and of its variance sqrt(2/n) = 4.5e-3.
  const int64_t n = 100000;
  Philox rng(2024, 3);
  double su = 0, su2 = 0, sn = 0, sn2 = 0, sn4 = 0;
  float umin = 1, umax = 0;
  for (int64_t i = 0; i < n; ++i) {
    float u = rng.uniform(uint64_t(i));
    umin = std::min(umin, u);
    umax = std::max(umax, u);
    su += u;
    su2 += double(u) * u;
    double z = rng.normal(uint64_t(i));
    REQUIRE(std::isfinite(z));
    sn += z;
    sn2 += z * z;
    sn4 += z * z * z * z;
  }
  CHECK(umin >= 0.0f);
  CHECK(umax < 1.0f);
  const double mu = su / n, vu = su2 / n - mu * mu;
  CHECK(std::fabs(mu - 0.5) < 0.005);
  CHECK(std::fabs(vu - 1.0 / 12.0) < 0.0015);
  const double mn = sn / n, vn = sn2 / n - mn * mn;
  CHECK(std::fabs(mn) < 0.016);
  CHECK(std::fabs(vn - 1.0) < 0.025);
  CHECK(std::fabs(sn4 / n - 3.0) < 0.15);  // kurtosis of a normal (se ~ sqrt(96/n) = 0.031)

  // below(n): in range, every value reached, roughly uniform (each of 10 bins expects 1e4,
  // standard deviation ~95).
  std::vector<int64_t> count(10, 0);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t v = rng.below(10, uint64_t(i));
    REQUIRE(v < 10);
    ++count[v];
  }
  for (int64_t c : count) CHECK(std::abs(c - 10000) < 500);
}

TEST_CASE("Philox::blocks equals block() one by one, across the 2^32 counter boundary", "[rng]") {
  const Philox rng(0x1234567890ULL, 99);
  for (uint64_t first : {uint64_t(0), uint64_t(5), (uint64_t(1) << 32) - 11}) {
    for (int64_t count : {1, 8, 21}) {  // from inside one 8-block group to two and a part
      std::vector<uint32_t> out(size_t(4 * count));
      rng.blocks(first, count, out.data());
      int64_t wrong = 0;
      for (int64_t b = 0; b < count; ++b) {
        const std::array<uint32_t, 4> w = rng.block(first + uint64_t(b));
        for (int k = 0; k < 4; ++k) wrong += out[size_t(4 * b + k)] != w[size_t(k)];
      }
      CAPTURE(first, count);
      CHECK(wrong == 0);
    }
  }
}

TEST_CASE("Tensor::copy_from takes shape and values into its own storage", "[tensor]") {
  Tensor src({2, 3}), dst({4, 4});
  for (int64_t i = 0; i < src.numel(); ++i) src[i] = float(i) + 0.5f;
  const float* storage = dst.data();
  dst.copy_from(src);
  CHECK(dst.shape() == src.shape());
  CHECK(dst.data() == storage);  // 6 <= 16 elements: no new allocation
  CHECK(dst.data() != src.data());
  for (int64_t i = 0; i < src.numel(); ++i) CHECK(dst[i] == src[i]);
}

// ---- gemm -----------------------------------------------------------------------------------

namespace {

// Reference: C = alpha * op(A) op(B) + beta * C in double, row-major with leading dimensions,
// and the matching error bound 2 K u (|alpha| sum_k |a b| + |beta c|), u = 2^-24.
void naive_gemm(bool ta, bool tb, int64_t M, int64_t N, int64_t K, float alpha, const std::vector<float>& A,
                int64_t lda, const std::vector<float>& B, int64_t ldb, float beta, std::vector<double>& C,
                std::vector<double>& bound, int64_t ldc) {
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0, abs_s = 0;
      for (int64_t k = 0; k < K; ++k) {
        double a = ta ? A[k * lda + i] : A[i * lda + k];
        double b = tb ? B[j * ldb + k] : B[k * ldb + j];
        s += a * b;
        abs_s += std::fabs(a * b);
      }
      double c = beta == 0.0f ? 0.0 : beta * C[i * ldc + j];
      C[i * ldc + j] = alpha * s + c;
      bound[i * ldc + j] = 2.0 * double(K) * std::ldexp(1.0, -24) * (std::fabs(alpha) * abs_s + std::fabs(c));
    }
}

struct GemmCase {
  bool ta, tb;
  int64_t M, N, K;
  float alpha, beta;
  // Stored shapes, each with a leading dimension 3 wider than its row.
  int64_t a_rows() const { return ta ? K : M; }
  int64_t lda() const { return (ta ? M : K) + 3; }
  int64_t b_rows() const { return tb ? N : K; }
  int64_t ldb() const { return (tb ? K : N) + 3; }
  int64_t ldc() const { return N + 3; }
};

constexpr float kPad = -777.0f;

// Random A, B and C for a case; the padding of A and B is NaN, so reading it would poison the
// result, and with beta = 0 so is C (BLAS does not read C then).
void fill_gemm(const GemmCase& g, uint64_t seed, std::vector<float>& A, std::vector<float>& B, std::vector<float>& C) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  A.assign(g.a_rows() * g.lda(), nan);
  B.assign(g.b_rows() * g.ldb(), nan);
  C.assign(g.M * g.ldc(), kPad);
  Philox rng(seed, 1);
  uint64_t o = 0;
  for (int64_t i = 0; i < g.a_rows(); ++i)
    for (int64_t j = 0; j + 3 < g.lda(); ++j) A[i * g.lda() + j] = rng.normal(o++);
  for (int64_t i = 0; i < g.b_rows(); ++i)
    for (int64_t j = 0; j + 3 < g.ldb(); ++j) B[i * g.ldb() + j] = rng.normal(o++);
  for (int64_t i = 0; i < g.M; ++i)
    for (int64_t j = 0; j < g.N; ++j) C[i * g.ldc() + j] = g.beta == 0.0f ? nan : rng.normal(o++);
}

std::vector<float> run_gemm(const GemmCase& g, const std::vector<float>& A, const std::vector<float>& B,
                            std::vector<float> C) {
  gemm(g.ta, g.tb, g.M, g.N, g.K, g.alpha, A.data(), g.lda(), B.data(), g.ldb(), g.beta, C.data(), g.ldc());
  return C;
}

}  // namespace

// Sizes: one tile's edge; several k blocks (256) with ragged tiles; and, threaded, a row count
// that is no multiple of the 6-row tile with more than one column block (512) and k block.
TEST_CASE("gemm matches a naive triple loop for every transpose, beta and blocking", "[gemm]") {
  const auto [M, N, K] = GENERATE(std::array<int64_t, 3>{5, 7, 6}, std::array<int64_t, 3>{13, 33, 300},
                                  std::array<int64_t, 3>{601, 530, 260});
  const bool ta = GENERATE(false, true);
  const bool tb = GENERATE(false, true);
  const float beta = GENERATE(0.0f, 1.0f, 0.5f);
  const float alpha = GENERATE(1.0f, -0.5f);
  const GemmCase g{ta, tb, M, N, K, alpha, beta};
  CAPTURE(M, N, K, ta, tb, beta, alpha);
  std::vector<float> A, B, C;
  fill_gemm(g, uint64_t(M * 1000 + K), A, B, C);
  std::vector<double> ref(C.begin(), C.end()), bound(C.size());
  naive_gemm(ta, tb, M, N, K, alpha, A, g.lda(), B, g.ldb(), beta, ref, bound, g.ldc());
  C = run_gemm(g, A, B, C);
  int64_t bad = 0, pad_written = 0;
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      const int64_t at = i * g.ldc() + j;
      bad += !(std::fabs(C[at] - ref[at]) <= bound[at]);
    }
    for (int64_t j = N; j < g.ldc(); ++j) pad_written += C[i * g.ldc() + j] != kPad;  // padding of C untouched
  }
  CHECK(bad == 0);
  CHECK(pad_written == 0);
}

TEST_CASE("gemm gives bit-identical results for every thread count", "[gemm]") {
  const GemmCase g{GENERATE(false, true), GENERATE(false, true), 700, 600, 520, 1.0f, 1.0f};
  std::vector<float> A, B, C;
  fill_gemm(g, 7, A, B, C);
  std::vector<float> one;
  {
    ThreadGuard single(1);
    one = run_gemm(g, A, B, C);
  }
  for (int threads : {2, 3}) {
    ThreadGuard guard(threads);
    CHECK(run_gemm(g, A, B, C) == one);
  }
}

TEST_CASE("gemm with K = 0 gives beta * C", "[gemm]") {
  std::vector<float> A(1), B(1), C = {1.0f, 2.0f, 3.0f, 4.0f};
  gemm(false, false, 2, 2, 0, 1.0f, A.data(), 1, B.data(), 2, 1.0f, C.data(), 2);
  CHECK(C == std::vector<float>{1.0f, 2.0f, 3.0f, 4.0f});
  gemm(false, false, 2, 2, 0, 1.0f, A.data(), 1, B.data(), 2, 0.5f, C.data(), 2);
  CHECK(C == std::vector<float>{0.5f, 1.0f, 1.5f, 2.0f});
}

TEST_CASE("add_column_sums accumulates column sums, with a leading dimension", "[gemm]") {
  const float dy[] = {1, 2, 3, 4, 5, 6};  // (2, 3)
  float out[3] = {10, 20, 30};
  add_column_sums(dy, 2, 3, 3, out);
  CHECK(out[0] == 15.0f);
  CHECK(out[1] == 27.0f);
  CHECK(out[2] == 39.0f);
  // Columns 1..2 of the same rows (leading dimension 3).
  float part[2] = {0, 0};
  add_column_sums(dy + 1, 2, 2, 3, part);
  CHECK(part[0] == 7.0f);
  CHECK(part[1] == 9.0f);
}

// ---- Dropout --------------------------------------------------------------------------------

namespace {
std::vector<float> values(const Tensor& t) { return {t.data(), t.data() + t.numel()}; }
}  // namespace

TEST_CASE("Dropout: drops a fraction p, scales the rest, backward reuses the mask", "[dropout]") {
  const float p = GENERATE(0.1f, 0.5f);
  CAPTURE(p);
  const int64_t n = 100000;
  Dropout drop(p, 77, kStreamLayer);
  Tensor x({n}), y({n}), dy({n}), dx({n});
  Philox rng(78, 1);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = 1.0f + rng.uniform(uint64_t(i));  // never zero, so y == 0 means dropped
    dy[i] = rng.normal(uint64_t(i));
  }
  drop.forward(x, y, true, 3);
  int64_t dropped = 0;
  const float scale = 1.0f / (1.0f - p);
  for (int64_t i = 0; i < n; ++i) {
    if (y[i] == 0.0f) ++dropped;
    else REQUIRE(y[i] == x[i] * scale);
  }
  // Binomial standard deviation sqrt(p (1 - p) / n) <= 1.6e-3; the bound is ~5 of them.
  CHECK(std::fabs(double(dropped) / n - p) < 0.008);

  drop.backward(dy, dx);
  for (int64_t i = 0; i < n; ++i) REQUIRE(dx[i] == (y[i] == 0.0f ? 0.0f : dy[i] * scale));

  // In place (dx is dy) gives the same.
  Tensor inplace = dy.clone();
  drop.backward(inplace, inplace);
  CHECK(values(inplace) == values(dx));

  // The same step reproduces the mask; another step gives another one.
  Tensor y_same, y_next;
  drop.forward(x, y_same, true, 3);
  CHECK(values(y_same) == values(y));
  drop.forward(x, y_next, true, 4);
  CHECK(values(y_next) != values(y));
  // A different stream (another layer) gives another mask at the same step.
  Dropout other(p, 77, kStreamLayer + 16);
  Tensor y_other;
  other.forward(x, y_other, true, 3);
  CHECK(values(y_other) != values(y));
}

TEST_CASE("Dropout: the mask is the documented Philox rule, and parts in any split equal the whole", "[dropout]") {
  const float p = 0.3f;
  const int64_t n = 1000;
  const uint64_t step = 5;
  Dropout whole(p, 9, kStreamLayer + 3), parts(p, 9, kStreamLayer + 3);
  Tensor x({n}), y;
  std::vector<float> y_parts(n, -1.0f);
  for (int64_t i = 0; i < n; ++i) x[i] = 1.0f + float(i % 7);
  whole.forward(x, y, true, step);
  const Philox rng(9, kStreamLayer + 3);
  int64_t wrong = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t word = rng.block((step << 32) + uint64_t(i / 8))[(i % 8) / 2];
    const bool keep = ((word >> (16 * (i % 2))) & 0xFFFFu) >= uint32_t(p * 65536.0f);
    wrong += y[i] != (keep ? x[i] * (1.0f / (1.0f - p)) : 0.0f);
  }
  CHECK(wrong == 0);
  // Ragged parts (not multiples of 8), applied out of order.
  parts.begin(n, true, step);
  const std::vector<std::pair<int64_t, int64_t>> ranges = {{503, 497}, {0, 3}, {3, 13}, {16, 487}};
  for (auto [first, count] : ranges) parts.apply(x.data() + first, y_parts.data() + first, first, count);
  CHECK(y_parts == values(y));
  Tensor dy({n}), dx_whole;
  dy.fill(1.0f);
  std::vector<float> dx_parts(n);
  whole.backward(dy, dx_whole);
  for (auto [first, count] : ranges) parts.apply_backward(dy.data() + first, dx_parts.data() + first, first, count);
  CHECK(dx_parts == values(dx_whole));
}

TEST_CASE("Dropout: identity in eval mode and when p = 0", "[dropout]") {
  const int64_t n = 1000;
  Tensor x({n}), y({n}), dy({n}), dx({n});
  y.fill(-1.0f);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = float(i) + 0.5f;
    dy[i] = float(i) - 0.25f;
  }
  SECTION("eval") {
    Dropout drop(0.3f, 1, kStreamLayer);
    drop.forward(x, y, false, 0);
    CHECK(values(y) == values(x));
    drop.backward(dy, dx);
    CHECK(values(dx) == values(dy));
  }
  SECTION("eval after a training forward") {
    Dropout drop(0.3f, 1, kStreamLayer);
    drop.forward(x, y, true, 0);
    drop.forward(x, y, false, 0);
    CHECK(values(y) == values(x));
    drop.backward(dy, dx);
    CHECK(values(dx) == values(dy));
  }
  SECTION("p = 0 in training") {
    Dropout drop(0.0f, 1, kStreamLayer);
    drop.forward(x, y, true, 0);
    CHECK(values(y) == values(x));
    drop.backward(dy, dx);
    CHECK(values(dx) == values(dy));
  }
  SECTION("in place") {
    Dropout drop(0.3f, 1, kStreamLayer);
    Tensor z = x.clone();
    drop.forward(z, z, true, 9);
    drop.forward(x, y, true, 9);
    CHECK(values(z) == values(y));
  }
}

// ---- AdamW and clipping ---------------------------------------------------------------------

namespace {
Parameter make_param(const std::string& name, std::vector<float> value, std::vector<float> grad, bool decay) {
  Parameter p(name, {int64_t(value.size())}, decay);
  for (size_t i = 0; i < value.size(); ++i) {
    p.value[int64_t(i)] = value[i];
    p.grad[int64_t(i)] = grad[i];
  }
  return p;
}
}  // namespace

TEST_CASE("AdamW: one step by hand, decoupled decay, no decay, frozen", "[adamw]") {
  AdamWOptions o;  // beta1 0.9, beta2 0.999, eps 1e-8
  o.weight_decay = 0.1f;
  const float lr = 0.1f;
  Parameter decayed = make_param("w", {1.0f, -2.0f, 0.5f}, {0.5f, -0.1f, 0.0f}, true);
  Parameter plain = make_param("b", {1.0f, -2.0f, 0.5f}, {0.5f, -0.1f, 0.0f}, false);
  Parameter frozen = make_param("f", {1.0f, -2.0f, 0.5f}, {0.5f, -0.1f, 0.0f}, true);
  frozen.frozen = true;
  AdamW opt({&decayed, &plain, &frozen}, o);
  CHECK(opt.state().count("w") == 1);
  CHECK(opt.state().count("f") == 0);  // frozen parameters get no state
  opt.step(lr);
  CHECK(opt.steps() == 1);
  // Step 1: m_hat = g, v_hat = g^2, so the Adam direction is g / (|g| + eps) = sign(g) (0 for
  // g = 0), and decoupled decay subtracts lr * wd * w:
  //   w = 1 - 0.1 * (1 + 0.1 * 1) = 0.89;  -2 - 0.1 * (-1 + 0.1 * -2) = -1.88;  0.5 - 0.1 * 0.05 = 0.495
  CHECK(decayed.value[0] == Approx(0.89).epsilon(1e-6));
  CHECK(decayed.value[1] == Approx(-1.88).epsilon(1e-6));
  CHECK(decayed.value[2] == Approx(0.495).epsilon(1e-6));  // decay acts even with a zero gradient
  //   no decay: 1 - 0.1 = 0.9;  -2 + 0.1 = -1.9;  0.5 (zero gradient)
  CHECK(plain.value[0] == Approx(0.9).epsilon(1e-6));
  CHECK(plain.value[1] == Approx(-1.9).epsilon(1e-6));
  CHECK(plain.value[2] == 0.5f);
  CHECK(frozen.value[0] == 1.0f);
  CHECK(frozen.value[1] == -2.0f);
  CHECK(frozen.value[2] == 0.5f);
  // Moments after step 1: m = (1 - beta1) g, v = (1 - beta2) g^2.
  CHECK(opt.state().at("w").m[0] == Approx(0.05).epsilon(1e-6));
  // (1 - 0.999f) is 0.00099998713 in float: relative error 1.3e-5, hence epsilon 1e-4.
  CHECK(opt.state().at("w").v[0] == Approx(0.00025).epsilon(1e-4));

  // Step 2 with a new gradient, against the formula evaluated in double.
  decayed.grad[0] = -0.3f;
  opt.step(lr);
  const double m = 0.9 * 0.05 + 0.1 * -0.3, v = 0.999 * 0.00025 + 0.001 * 0.09;
  const double mhat = m / (1 - 0.81), vhat = v / (1 - 0.999 * 0.999);
  const double w1 = 0.89;
  const double w2 = w1 - 0.1 * (mhat / (std::sqrt(vhat) + 1e-8) + 0.1 * w1);
  CHECK(decayed.value[0] == Approx(w2).epsilon(1e-5));
}

TEST_CASE("clip_grad_norm: global norm over non-frozen parameters", "[adamw]") {
  Parameter a = make_param("a", {0, 0}, {3.0f, 4.0f}, true);
  Parameter b = make_param("b", {0}, {12.0f}, true);
  Parameter f = make_param("f", {0}, {100.0f}, true);
  f.frozen = true;
  std::vector<Parameter*> ps = {&a, &b, &f};
  SECTION("below the limit: unchanged") {
    CHECK(clip_grad_norm(ps, 13.5) == Approx(13.0).epsilon(1e-12));
    CHECK(a.grad[0] == 3.0f);
    CHECK(b.grad[0] == 12.0f);
  }
  SECTION("max_norm <= 0: no clipping") {
    CHECK(clip_grad_norm(ps, 0.0) == Approx(13.0).epsilon(1e-12));
    CHECK(b.grad[0] == 12.0f);
  }
  SECTION("above the limit: scaled to max_norm") {
    CHECK(clip_grad_norm(ps, 6.5) == Approx(13.0).epsilon(1e-12));
    CHECK(a.grad[0] == Approx(1.5).epsilon(1e-6));
    CHECK(a.grad[1] == Approx(2.0).epsilon(1e-6));
    CHECK(b.grad[0] == Approx(6.0).epsilon(1e-6));
    CHECK(f.grad[0] == 100.0f);  // frozen: neither counted nor scaled
    CHECK(clip_grad_norm(ps, 0.0) == Approx(6.5).epsilon(1e-6));
  }
}

// ---- LrSchedule -----------------------------------------------------------------------------

TEST_CASE("LrSchedule: linear warmup then cosine to min_lr_ratio * lr", "[schedule]") {
  LrSchedule s;
  s.lr = 1e-3;
  s.warmup_steps = 10;
  s.total_steps = 110;
  s.min_lr_ratio = 0.1;
  CHECK(s.at(0) == Approx(1e-4));  // (step + 1) / warmup
  CHECK(s.at(4) == Approx(5e-4));
  CHECK(s.at(9) == Approx(1e-3));
  CHECK(s.at(10) == Approx(1e-3));                  // cosine starts at lr
  CHECK(s.at(60) == Approx(1e-3 * (0.1 + 0.9 * 0.5)));  // halfway
  CHECK(s.at(110) == Approx(1e-4));                 // ends at min_lr_ratio * lr
  CHECK(s.at(1000) == Approx(1e-4));                // and stays there
  for (int64_t t = 10; t < 110; ++t) CHECK(s.at(t + 1) <= s.at(t));
  for (int64_t t = 0; t < 9; ++t) CHECK(s.at(t + 1) > s.at(t));

  LrSchedule no_warmup = s;
  no_warmup.warmup_steps = 0;
  CHECK(no_warmup.at(0) == Approx(1e-3));
  CHECK(no_warmup.at(110) == Approx(1e-4));
}

// ---- Tokenizer ------------------------------------------------------------------------------

TEST_CASE("Tokenizer: sorted byte vocabulary and round trip", "[tokenizer]") {
  const std::string text = "hello, world\nThe end.";
  Tokenizer tok = Tokenizer::from_text(text);
  CHECK(tok.symbols() == std::string("\n ,.Tdehlnorw"));
  CHECK(tok.vocab_size() == 13);
  std::vector<int32_t> ids = tok.encode(text);
  REQUIRE(ids.size() == text.size());
  for (int32_t id : ids) CHECK((id >= 0 && id < tok.vocab_size()));
  CHECK(ids[0] == 7);  // 'h' is the 8th symbol
  CHECK(tok.decode(ids) == text);
  Tokenizer again = Tokenizer::from_symbols(tok.symbols());
  CHECK(again.encode(text) == ids);
  CHECK(tok.contains('h'));
  CHECK_FALSE(tok.contains('z'));
  CHECK(tok.encode("").empty());
}

TEST_CASE("Tokenizer: a byte outside the vocabulary is an InputError naming its position", "[tokenizer]") {
  Tokenizer tok = Tokenizer::from_text("abc");
  CHECK_THROWS_AS(tok.encode("abzc"), InputError);
  CHECK_THROWS_WITH(tok.encode("abzc"), Catch::Contains("position 2"));
}

TEST_CASE("Tokenizer: the unknown byte is named in hex", "[tokenizer]") {
  // 'z' is 0x7a.
  Tokenizer tok = Tokenizer::from_text("abc");
  CHECK_THROWS_WITH(tok.encode("abzc"), Catch::Contains("0x7a"));
}

// ---- TextDataset ----------------------------------------------------------------------------

TEST_CASE("TextDataset: split sizes", "[dataset]") {
  std::vector<int32_t> tokens(1000);
  for (int32_t i = 0; i < 1000; ++i) tokens[i] = i;
  TextDataset ds(tokens, 0.25);
  REQUIRE(ds.tokens(Split::Train).size() == 750);
  REQUIRE(ds.tokens(Split::Val).size() == 250);
  CHECK(ds.tokens(Split::Train).front() == 0);
  CHECK(ds.tokens(Split::Train).back() == 749);  // the first part trains
  CHECK(ds.tokens(Split::Val).front() == 750);
  CHECK(ds.tokens(Split::Val).back() == 999);

  TextDataset tenth(std::vector<int32_t>(100, 1), 0.1);
  CHECK(tenth.tokens(Split::Train).size() == 90);
  CHECK(tenth.tokens(Split::Val).size() == 10);
}

TEST_CASE("TextDataset: batches are deterministic, targets are inputs shifted by one", "[dataset]") {
  std::vector<int32_t> tokens(1000);
  for (int32_t i = 0; i < 1000; ++i) tokens[i] = i;  // token value = position
  TextDataset ds(tokens, 0.2);
  const int64_t B = 4, T = 16;
  std::vector<int32_t> x, y, x2, y2, x3, y3;
  ds.batch(Split::Train, B, T, 1337, kStreamData, 5, x, y);
  REQUIRE(x.size() == size_t(B * T));
  REQUIRE(y.size() == size_t(B * T));
  ds.batch(Split::Train, B, T, 1337, kStreamData, 5, x2, y2);
  CHECK(x == x2);
  CHECK(y == y2);
  ds.batch(Split::Train, B, T, 1337, kStreamData, 6, x3, y3);
  CHECK(x3 != x);
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t t = 0; t < T; ++t) {
      const int32_t xi = x[b * T + t], yi = y[b * T + t];
      CHECK(yi == xi + 1);                                   // the next token
      if (t + 1 < T) CHECK(x[b * T + t + 1] == xi + 1);       // a contiguous window
      CHECK((xi >= 0 && yi < 800));                          // inside the training split
    }
  }
  // Batch b of draw d is regenerated alone from (seed, stream, d * B + b): B = 1 at draw d*B + b.
  std::vector<int32_t> x1, y1;
  ds.batch(Split::Train, 1, T, 1337, kStreamData, 5 * B + 2, x1, y1);
  CHECK(std::vector<int32_t>(x.begin() + 2 * T, x.begin() + 3 * T) == x1);

  ds.batch(Split::Val, B, T, 1337, kStreamEvalVal, 0, x, y);
  for (int64_t i = 0; i < B * T; ++i) CHECK((x[i] >= 800 && y[i] == x[i] + 1 && y[i] < 1000));
}

TEST_CASE("TextDataset: a split shorter than block_size + 1 is an InputError", "[dataset]") {
  TextDataset ds(std::vector<int32_t>(100, 0), 0.1);  // val: 10 tokens
  std::vector<int32_t> x, y;
  CHECK_THROWS_AS(ds.batch(Split::Val, 1, 10, 1, kStreamEvalVal, 0, x, y), InputError);
  CHECK_NOTHROW(ds.batch(Split::Val, 1, 9, 1, kStreamEvalVal, 0, x, y));
}
