#include "peer/product_keys.h"

#ifdef __AVX2__
#include <immintrin.h>
#endif

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/gemm.h"
#include "peer/topk_merge.h"

namespace peer {

namespace {

constexpr int64_t kChunk = 64;  // queries per GEMM block

#ifdef __AVX2__
float max8(const float* s) {
  __m256 v = _mm256_loadu_ps(s);
  __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  m = _mm_max_ps(m, _mm_movehl_ps(m, m));
  m = _mm_max_ss(m, _mm_shuffle_ps(m, m, 1));
  return _mm_cvtss_f32(m);
}
#endif

// Offers s[0..n) (index j = position) to `out`, best first with the tie rule. A lower bound on
// the k-th largest score is found first: the smallest of the maxima of k disjoint groups (each
// group holds an element >= its maximum >= the bound). Only scores >= the bound are offered, in
// index order (8 at a time with AVX2), so the result is exactly that of offering every score.
void scan(const float* s, int64_t n, TopList& out) {
  int64_t j = 0;
  const int64_t group = n / out.k;
  if (group < 2) {
    for (; j < n; ++j) out.offer(s[j], int32_t(j));
    return;
  }
  float bound = INFINITY;
  for (int64_t g = 0; g < out.k; ++g) {
    float m = -INFINITY;
    int64_t i = g * group;
#ifdef __AVX2__
    for (; i + 8 <= (g + 1) * group; i += 8) m = std::max(m, max8(s + i));
#endif
    for (; i < (g + 1) * group; ++i) m = std::max(m, s[i]);
    bound = std::min(bound, m);
  }
#ifdef __AVX2__
  {
    const __m256 b = _mm256_set1_ps(bound);
    for (; j + 8 <= n; j += 8) {
      int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_loadu_ps(s + j), b, _CMP_GE_OQ));
      for (; mask; mask &= mask - 1) {
        int bit = __builtin_ctz(mask);
        out.offer(s[j + bit], int32_t(j + bit));
      }
    }
  }
#endif
  for (; j < n; ++j)
    if (s[j] >= bound) out.offer(s[j], int32_t(j));
}

// Exact top-k over every sum s1[a] + s2[b] of one query.
void brute_row(const float* s1, const float* s2, const KeyTables& keys, TopList& out) {
  for (int64_t a = 0; a < keys.n1; ++a)
    for (int64_t b = 0; b < keys.n2; ++b) out.offer(s1[a] + s2[b], int32_t(a * keys.n2 + b));
}

// One query by product keys: the half lists (k+1 entries each, see merge_half_topk), their
// merge, and brute force over all sums where the merge cannot vouch for its k-th place.
void product_key_row(const float* s1, const float* s2, const KeyTables& keys, TopList& a, TopList& b,
                     TopList& out) {
  scan(s1, keys.n1, a);
  scan(s2, keys.n2, b);
  if (!merge_half_topk(a, b, keys.n2, out)) {
    out.size = 0;
    brute_row(s1, s2, keys, out);
  }
}

void check_args(const KeyTables& keys, int64_t k) {
  if (k < 1 || k > keys.size() || k > 4096)
    throw std::invalid_argument("[product_keys] k = " + std::to_string(k) + " must be in [1, min(N, 4096)]");
}

}  // namespace

void sub_scores(const float* q, int64_t rows, int64_t ldq, const KeyTables& keys, float* s1, float* s2) {
  gemm(false, true, rows, keys.n1, keys.half, 1.0f, q, ldq, keys.c1, keys.half, 0.0f, s1, keys.n1);
  gemm(false, true, rows, keys.n2, keys.half, 1.0f, q + keys.half, ldq, keys.c2, keys.half, 0.0f, s2, keys.n2);
}

void product_key_topk(const float* q, int64_t Q, int64_t ldq, const KeyTables& keys, int64_t k, int32_t* index,
                      float* score) {
  check_args(keys, k);
  const int64_t k1 = std::min(k + 1, keys.n1), k2 = std::min(k + 1, keys.n2);
#pragma omp parallel if (Q > kChunk)
  {
    std::vector<float> s1(kChunk * keys.n1), s2(kChunk * keys.n2), v1(k1), v2(k2);
    std::vector<int32_t> i1(k1), i2(k2);
#pragma omp for schedule(dynamic, 1)
    for (int64_t c0 = 0; c0 < Q; c0 += kChunk) {
      const int64_t rows = std::min(kChunk, Q - c0);
      sub_scores(q + c0 * ldq, rows, ldq, keys, s1.data(), s2.data());
      for (int64_t r = 0; r < rows; ++r) {
        TopList a{v1.data(), i1.data(), 0, k1}, b{v2.data(), i2.data(), 0, k2};
        TopList out{score + (c0 + r) * k, index + (c0 + r) * k, 0, k};
        product_key_row(s1.data() + r * keys.n1, s2.data() + r * keys.n2, keys, a, b, out);
      }
    }
  }
}

void product_key_topk(const Tensor& q, const KeyTables& keys, int64_t k, Tensor& index, Tensor& score) {
  if (q.device() == Device::CUDA) return cuda::product_key_topk(q, keys, k, index, score);
  index.resize({q.dim(0), k}, Device::CPU, DType::I32);
  score.resize({q.dim(0), k}, Device::CPU);
  product_key_topk(q.data(), q.dim(0), q.dim(1), keys, k, index.data_i32(), score.data());
}

void brute_force_topk(const float* q, int64_t Q, int64_t ldq, const KeyTables& keys, int64_t k, int32_t* index,
                      float* score) {
  check_args(keys, k);
#pragma omp parallel if (Q > kChunk)
  {
    std::vector<float> s1(kChunk * keys.n1), s2(kChunk * keys.n2);
#pragma omp for schedule(dynamic, 1)
    for (int64_t c0 = 0; c0 < Q; c0 += kChunk) {
      const int64_t rows = std::min(kChunk, Q - c0);
      sub_scores(q + c0 * ldq, rows, ldq, keys, s1.data(), s2.data());
      for (int64_t r = 0; r < rows; ++r) {
        TopList out{score + (c0 + r) * k, index + (c0 + r) * k, 0, k};
        brute_row(s1.data() + r * keys.n1, s2.data() + r * keys.n2, keys, out);
      }
    }
  }
}

}  // namespace peer
