// CPU implementation of the attention core (the reference); CUDA inputs go to ops/cuda/attention.cu.
#include "core/ops/attention.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/ops/attention_math.h"
#include "core/ops/dropout.h"
#include "core/simd.h"

namespace peer {

namespace {

// Rows r < R of out: out[r * os + 0..n) = sum over t < count of w[r * wr + t * ws] * x[t * xs + 0..n).
// Each 8-float column block of the R rows is summed in R registers (core/simd.h): R independent
// chains of FMAs, where one row alone would wait on each FMA's latency, and no sum waits on a
// store to memory.
template <int R>
void rows_block(const float* w, int64_t wr, int64_t ws, const float* x, int64_t xs, int64_t count, int64_t n,
                float* out, int64_t os) {
  int64_t d = 0;
  for (; d + 8 <= n; d += 8) {
    v8 acc[R] = {};
    for (int64_t t = 0; t < count; ++t) {
      const v8 xt = load8(x + t * xs + d);
      for (int r = 0; r < R; ++r) acc[r] += w[r * wr + t * ws] * xt;
    }
    for (int r = 0; r < R; ++r) store8(out + r * os + d, acc[r]);
  }
  for (; d < n; ++d)
    for (int r = 0; r < R; ++r) {
      float acc = 0.0f;
      for (int64_t t = 0; t < count; ++t) acc += w[r * wr + t * ws] * x[t * xs + d];
      out[r * os + d] = acc;
    }
}

// The same for `rows` rows (at most kGroup): every product of the attention core is one of these,
// a group of rows of weights against rows of q, k, v or their gradients. The causal triangle is
// handled by zeros: a group runs to the longest row's count, and the weights past a row's own
// count are zero, which adds exact zeros after (or before) its own terms (for finite q, k, v and
// gradients; a non-finite one makes the loss non-finite anyway).
constexpr int64_t kGroup = 4;

void weighted_rows(const float* w, int64_t wr, int64_t ws, const float* x, int64_t xs, int64_t count, int64_t n,
                   float* out, int64_t os, int64_t rows) {
  if (rows == kGroup) return rows_block<kGroup>(w, wr, ws, x, xs, count, n, out, os);
  for (int64_t r = 0; r < rows; ++r) rows_block<1>(w + r * wr, wr, ws, x, xs, count, n, out + r * os, os);
}

int64_t round8(int64_t n) { return (n + 7) / 8 * 8; }

// x (T rows with stride ld, hs columns) transposed into hs rows of round8(T) floats, padded with
// zeros, so that row i of a product with x^T is a weighted sum of whole vectors.
void transpose_padded(const float* x, int64_t ld, int64_t T, int64_t hs, std::vector<float>& out) {
  const int64_t Tp = round8(T);
  out.assign(size_t(hs * Tp), 0.0f);
  for (int64_t j = 0; j < T; ++j)
    for (int64_t d = 0; d < hs; ++d) out[d * Tp + j] = x[j * ld + d];
}

}  // namespace

// Head h of sequence b: q row i at qkv[b*T+i, h*hs], k at column offset +C, v at +2C. One
// parallel pass over (b, h): scores, softmax, dropout of the weights, then the weighted sum of v.
void attention_forward(const Tensor& qkv, int64_t B, int64_t T, int64_t H, const DropoutRule* rule, Tensor& mask,
                       Tensor& probs, Tensor& dropped, Tensor& att) {
  const int64_t C = qkv.dim(1) / 3, hs = C / H, ld = 3 * C, Tp = round8(T);
  probs.resize({B, H, T, T}, qkv.device());
  dropped.resize({B, H, T, T}, qkv.device());
  att.resize({B * T, C}, qkv.device());
  if (qkv.device() == Device::CUDA) return cuda::attention_forward(qkv, B, T, H, rule, probs, dropped, att);
  const float scale = 1.0f / std::sqrt(float(hs));
  const float* base = qkv.data();
  if (rule) mask.resize({B, H, T, T}, Device::CPU);
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t bh = 0; bh < B * H; ++bh) {
    static thread_local std::vector<float> kt, S;
    S.resize(size_t(kGroup * Tp));
    const int64_t b = bh / H, h = bh % H;
    const float *q = base + b * T * ld + h * hs, *k = q + C, *v = q + 2 * C;
    transpose_padded(k, ld, T, hs, kt);
    float* P = probs.data() + bh * T * T;
    for (int64_t i0 = 0; i0 < T; i0 += kGroup) {
      const int64_t rows = std::min(kGroup, T - i0), end = i0 + rows;
      // Scores of rows i0 .. end up to the vector holding the last diagonal; entries past a
      // row's own diagonal are unused.
      weighted_rows(q + i0 * ld, ld, 1, kt.data(), Tp, hs, std::min(round8(end), Tp), S.data(), Tp, rows);
      for (int64_t i = i0; i < end; ++i) {
        const float* s = S.data() + (i - i0) * Tp;
        float mx = -INFINITY, sum = 0.0f, *p = P + i * T;
        for (int64_t j = 0; j <= i; ++j) mx = std::max(mx, s[j] * scale);
        for (int64_t j = 0; j <= i; ++j) sum += (p[j] = attention_weight(s[j], scale, mx));
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j <= i; ++j) p[j] *= inv;
        std::fill(p + i + 1, p + T, 0.0f);
      }
    }
    float* D = dropped.data() + bh * T * T;
    if (rule) dropout_forward_range(P, D, mask.data() + bh * T * T, bh * T * T, T * T, *rule);
    else std::copy_n(P, T * T, D);
    for (int64_t i0 = 0; i0 < T; i0 += kGroup) {
      const int64_t rows = std::min(kGroup, T - i0);
      weighted_rows(D + i0 * T, T, 1, v, ld, i0 + rows, hs, att.data() + (b * T + i0) * C + h * hs, C, rows);
    }
  }
}

// One parallel pass over (b, h), writing that head's q, k and v gradient columns in full: rows
// of the score gradient (with dq), then columns (dk and dv: key j gets the rows i >= j).
void attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& dropped, const DropoutRule* rule,
                        const Tensor& mask, const Tensor& datt, int64_t B, int64_t T, int64_t H, Tensor& dprobs,
                        Tensor& dqkv) {
  const int64_t C = qkv.dim(1) / 3, hs = C / H, ld = 3 * C, Tp = round8(T);
  dqkv.resize({B * T, 3 * C}, qkv.device());
  dprobs.resize(probs.shape(), qkv.device());
  if (qkv.device() == Device::CUDA)
    return cuda::attention_backward(qkv, probs, dropped, datt, B, T, H, rule, dprobs, dqkv);
  const float scale = 1.0f / std::sqrt(float(hs));
  const float* base = qkv.data();
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t bh = 0; bh < B * H; ++bh) {
    static thread_local std::vector<float> vt, S;
    S.resize(size_t(kGroup * Tp));
    const int64_t b = bh / H, h = bh % H;
    const float *q = base + b * T * ld + h * hs, *k = q + C, *v = q + 2 * C;
    const float* g = datt.data() + b * T * C + h * hs;
    float* dq = dqkv.data() + b * T * ld + h * hs;  // this head's dq; dk at +C, dv at +2C
    transpose_padded(v, ld, T, hs, vt);
    const float *P = probs.data() + bh * T * T, *D = dropped.data() + bh * T * T;
    float* dS = dprobs.data() + bh * T * T;
    for (int64_t i0 = 0; i0 < T; i0 += kGroup) {
      const int64_t rows = std::min(kGroup, T - i0), end = i0 + rows;
      weighted_rows(g + i0 * C, C, 1, vt.data(), Tp, hs, std::min(round8(end), Tp), S.data(), Tp, rows);
      for (int64_t i = i0; i < end; ++i) {
        float* ds = dS + i * T;
        std::copy_n(S.data() + (i - i0) * Tp, i + 1, ds);  // gradient w.r.t. the dropped weights
        std::fill(ds + i + 1, ds + T, 0.0f);
        if (rule) dropout_backward_range(ds, mask.data() + bh * T * T + i * T, ds, i + 1);
        const float* p = P + i * T;
        float pdp = 0.0f;
        for (int64_t j = 0; j <= i; ++j) pdp += p[j] * ds[j];
        for (int64_t j = 0; j <= i; ++j) ds[j] = attention_score_grad(p[j], ds[j], pdp, scale);
      }
      weighted_rows(dS + i0 * T, T, 1, k, ld, end, hs, dq + i0 * ld, ld, rows);
    }
    // Keys j0 .. j0+rows: columns of dS and D from row j0 down (above the diagonal they are 0).
    for (int64_t j0 = 0; j0 < T; j0 += kGroup) {
      const int64_t rows = std::min(kGroup, T - j0);
      weighted_rows(dS + j0 * T + j0, 1, T, q + j0 * ld, ld, T - j0, hs, dq + j0 * ld + C, ld, rows);
      weighted_rows(D + j0 * T + j0, 1, T, g + j0 * C, C, T - j0, hs, dq + j0 * ld + 2 * C, ld, rows);
    }
  }
}

}  // namespace peer
