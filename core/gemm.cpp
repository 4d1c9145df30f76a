// Row-major SGEMM for the shapes of this framework's layers (K and N in the hundreds, M up to a
// few thousand rows): B packed in 16-column panels, A read in place, one 6x16 register tile of
// 8-float vectors (GCC/Clang vector extension: AVX2/FMA instructions with -march=native on such
// a CPU, pairs of SSE otherwise). It replaced Eigen's product, which it beat 1.3-1.5x on one
// thread on the makeMoE layer shapes; tests/test_core.cpp checks it against a double-precision
// loop. Each output element is accumulated over k in one fixed order whatever the thread count,
// so results do not depend on the number of threads.
#include "core/gemm.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "core/parallel.h"
#include "core/simd.h"

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace peer {

namespace {

constexpr int64_t kMR = 6, kNR = 16;  // register tile: 6 rows x 2 vectors of 8 floats
constexpr int64_t kKC = 256;          // k block: a 16-column panel of B (16 KiB) stays in L1
constexpr int64_t kNC = 512;          // column block: its packed B (at most 512 KiB) stays in L2
constexpr int64_t kMC = 72, kNB = 128;  // a task: at most kMC x kNB of C (its A rows stay in L2)

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

#if defined(__AVX2__)
// dst[k * kNR + c] = src[c * ld + k] for c, k < 8: an 8x8 block of a transposed B, in registers.
void transpose8(const float* src, int64_t ld, float* dst) {
  __m256 r[8], t[8];
  for (int c = 0; c < 8; ++c) r[c] = _mm256_loadu_ps(src + c * ld);
  for (int c = 0; c < 8; c += 2) {
    t[c] = _mm256_unpacklo_ps(r[c], r[c + 1]);
    t[c + 1] = _mm256_unpackhi_ps(r[c], r[c + 1]);
  }
  for (int c = 0; c < 8; c += 4)
    for (int h = 0; h < 2; ++h) {
      r[c + h] = _mm256_shuffle_ps(t[c + h], t[c + h + 2], 0x44);
      r[c + h + 2] = _mm256_shuffle_ps(t[c + h], t[c + h + 2], 0xEE);
    }
  // r[0..3] now hold k = {0, 4}, {2, 6}, {1, 5}, {3, 7} of columns 0..3 (and 4..7 in r[4..7]).
  constexpr int order[4] = {0, 2, 1, 3};
  for (int q = 0; q < 4; ++q) {
    _mm256_storeu_ps(dst + order[q] * kNR, _mm256_permute2f128_ps(r[q], r[q + 4], 0x20));
    _mm256_storeu_ps(dst + (order[q] + 4) * kNR, _mm256_permute2f128_ps(r[q], r[q + 4], 0x31));
  }
}

#endif

// Packed B: the kc x n block at rows k0.., columns j0.. of op(B) as n/kNR panels (the last
// zero-padded), each kc x kNR stored k-major: element (k, j) of the block lies at
// dst[(j / kNR * kc + k) * kNR + j % kNR].
//
// B not transposed: row k of the block is contiguous, so it is read row by row (sequential
// reads; reading panel by panel instead strides through B and was 15-25% slower on the experts'
// backward shapes with B out of cache).
void pack_b_row(const float* src, int64_t n, int64_t kc, int64_t k, float* dst) {
  int64_t p = 0;
  for (; p + kNR <= n; p += kNR) {
    store8(dst + p * kc + k * kNR, load8(src + p));
    store8(dst + p * kc + k * kNR + 8, load8(src + p + 8));
  }
  if (p == n) return;
  float* d = dst + p * kc + k * kNR;
  int64_t c = 0;
  for (; c < n - p; ++c) d[c] = src[p + c];
  for (; c < kNR; ++c) d[c] = 0.0f;
}

// B transposed: one panel (columns j0 .. j0+cols of op(B), at most kNR) from cols rows of B;
// with AVX2, a full panel goes 8x8 block by block.
void pack_bt_panel(const float* B, int64_t ldb, int64_t k0, int64_t kc, int64_t j0, int64_t cols, float* dst) {
  int64_t k = 0;
#if defined(__AVX2__)
  if (cols == kNR)
    for (; k + 8 <= kc; k += 8)
      for (int64_t c = 0; c < kNR; c += 8) transpose8(B + (j0 + c) * ldb + k0 + k, ldb, dst + k * kNR + c);
#endif
  for (; k < kc; ++k) {
    int64_t c = 0;
    for (; c < cols; ++c) dst[k * kNR + c] = B[(j0 + c) * ldb + k0 + k];
    for (; c < kNR; ++c) dst[k * kNR + c] = 0.0f;
  }
}

// C tile (rows x cols, at most kMR x kNR) = alpha * op(A) tile * Bp + beta * C; beta = 0 never
// reads C. Row r of the A tile at step k is a0[r * rs + k * ks], read in place: rows past
// `rows` repeat the last one and their results are discarded. The 12 accumulators are named
// variables: GCC spills an array of them to the stack. alpha applies after the sum, so each
// element is alpha times each k block's sum (the k blocks depend on K only) whatever the tiling.
void tile(int64_t kc, const float* a0, int64_t rs, int64_t ks, const float* Bp, float alpha, float beta, float* C,
          int64_t ldc, int64_t rows, int64_t cols) {
  // The C tile is only touched at the end; a weight gradient's C is usually out of cache, and
  // fetching it now hides the misses behind the k loop (8-40% on the experts' shapes).
  for (int64_t r = 0; r < rows; ++r) {
    __builtin_prefetch(C + r * ldc, 1);
    __builtin_prefetch(C + r * ldc + cols - 1, 1);
  }
  auto row = [&](int64_t r) { return a0 + std::min(r, rows - 1) * rs; };
  const float *a_0 = row(0), *a_1 = row(1), *a_2 = row(2), *a_3 = row(3), *a_4 = row(4), *a_5 = row(5);
  v8 c00 = {}, c01 = {}, c10 = {}, c11 = {}, c20 = {}, c21 = {}, c30 = {}, c31 = {}, c40 = {}, c41 = {}, c50 = {},
     c51 = {};
  for (int64_t k = 0, off = 0; k < kc; ++k, off += ks, Bp += kNR) {
    const v8 b0 = load8(Bp), b1 = load8(Bp + 8);
    // One row of the tile: its A element (broadcast) times both B vectors; inlined, so lo and
    // hi stay in registers.
    auto fma_row = [&](const float* a_r, v8& lo, v8& hi) {
      const float a = a_r[off];
      lo += a * b0;
      hi += a * b1;
    };
    fma_row(a_0, c00, c01);
    fma_row(a_1, c10, c11);
    fma_row(a_2, c20, c21);
    fma_row(a_3, c30, c31);
    fma_row(a_4, c40, c41);
    fma_row(a_5, c50, c51);
  }
  const v8 acc[kMR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  for (int64_t r = 0; r < rows; ++r) {
    float* c = C + r * ldc;
    if (cols == kNR) {  // the common full-width tile: vector stores, no call to memmove
      for (int h = 0; h < 2; ++h)
        store8(c + 8 * h, beta == 0.0f ? alpha * acc[r][h] : alpha * acc[r][h] + beta * load8(c + 8 * h));
      continue;
    }
    float out[kNR];
    store8(out, alpha * acc[r][0]);
    store8(out + 8, alpha * acc[r][1]);
    if (beta == 0.0f) std::copy_n(out, cols, c);
    else
      for (int64_t j = 0; j < cols; ++j) c[j] = out[j] + beta * c[j];
  }
}

// Per-thread packing buffer, reused across calls (64-byte aligned for the panel loads).
float* scratch(int64_t n) {
  static thread_local std::vector<float> buf;
  if (int64_t(buf.size()) < n + 16) buf.resize(size_t(n + 16));
  return reinterpret_cast<float*>((reinterpret_cast<uintptr_t>(buf.data()) + 63) & ~uintptr_t(63));
}

void blocked_gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
                  int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  float* Bp = scratch(std::min(kKC, K) * std::min(kNC, round_up(N, kNR)));
  const int64_t rs = trans_a ? 1 : lda, ks = trans_a ? lda : 1;  // A tiles are read in place
  // Threads only where each gets a fair share; a call from inside a parallel region (experts
  // in parallel) runs on its own thread even where nested parallelism is enabled.
  const bool threaded = M * N * K >= (int64_t(1) << 21) && !omp_in_parallel();
  // Tasks of whole tiles: at most kMC x kNB, rows split further so that every thread gets a few
  // (the split only changes who computes a tile, never how).
  const int64_t row_panels = (M + kMR - 1) / kMR, want = threaded ? 4 * num_threads() : 1;
  for (int64_t j0 = 0; j0 < N; j0 += kNC) {
    const int64_t n = std::min(kNC, N - j0), col_blocks = (n + kNB - 1) / kNB;
    const int64_t row_blocks =
        std::clamp(std::max((want + col_blocks - 1) / col_blocks, (M + kMC - 1) / kMC), int64_t(1), row_panels);
    const int64_t rows_per = (row_panels + row_blocks - 1) / row_blocks * kMR;
    for (int64_t k0 = 0; k0 < K; k0 += kKC) {
      const int64_t kc = std::min(kKC, K - k0);
      const float b = k0 == 0 ? beta : 1.0f;  // later k blocks accumulate onto the first
      if (trans_b) {
#pragma omp parallel for schedule(static) if (threaded)
        for (int64_t p = 0; p < n; p += kNR) pack_bt_panel(B, ldb, k0, kc, j0 + p, std::min(kNR, n - p), Bp + p * kc);
      } else {
#pragma omp parallel for schedule(static) if (threaded)
        for (int64_t k = 0; k < kc; ++k) pack_b_row(B + (k0 + k) * ldb + j0, n, kc, k, Bp);
      }
#pragma omp parallel for schedule(dynamic, 1) if (threaded)
      for (int64_t t = 0; t < row_blocks * col_blocks; ++t) {
        const int64_t r0 = t % row_blocks * rows_per, c0 = t / row_blocks * kNB;
        const int64_t r1 = std::min(M, r0 + rows_per), c1 = std::min(n, c0 + kNB);
        for (int64_t jp = c0; jp < c1; jp += kNR)
          for (int64_t ip = r0; ip < r1; ip += kMR)
            tile(kc, A + ip * rs + k0 * ks, rs, ks, Bp + jp * kc, alpha, b, C + ip * ldc + j0 + jp, ldc,
                 std::min(kMR, r1 - ip), std::min(kNR, c1 - jp));
      }
    }
  }
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // as BLAS: C is not read when beta = 0
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[i * ldc + j];
    return;
  }
  blocked_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void add_column_sums(const float* dy, int64_t rows, int64_t cols, int64_t ld, float* out) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* r = dy + i * ld;
    for (int64_t j = 0; j < cols; ++j) out[j] += r[j];
  }
}

}  // namespace peer
