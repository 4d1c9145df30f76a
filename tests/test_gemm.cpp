// gemm and add_column_sums (core/gemm.h) against a naive triple loop in double, for every
// transpose, beta and blocking, and bit-identical at every thread count.
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <limits>
#include <vector>

#include "core/gemm.h"
#include "core/rng.h"
#include "thread_guard.h"

using namespace peer;

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
