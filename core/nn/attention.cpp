#include "core/nn/attention.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "core/simd.h"

namespace peer {

CausalSelfAttention::CausalSelfAttention(const std::string& name, int64_t n_embd, int64_t n_head, float dropout,
                                         uint64_t seed, uint64_t stream)
    : qkv(name + ".qkv", n_embd, 3 * n_embd, false),
      proj(name + ".proj", n_embd, n_embd, true),
      C_(n_embd),
      H_(n_head),
      attn_drop_(dropout, seed, stream),
      resid_drop_(dropout, seed, stream + 1) {
  if (n_head < 1 || n_embd % n_head != 0)
    throw std::invalid_argument("[attention] n_embd " + std::to_string(n_embd) + " is not divisible by n_head " +
                                std::to_string(n_head));
}

void CausalSelfAttention::init(InitScheme s, uint64_t seed) {
  qkv.init(s, seed);
  proj.init(s, seed);
}

const Tensor& CausalSelfAttention::forward(const Tensor& x, int64_t B, int64_t T, bool train, uint64_t step) {
  B_ = B;
  T_ = T;
  qkv_out_ = &qkv.forward(x);
  probs_.resize({B, H_, T, T});
  dropped_.resize({B, H_, T, T});
  att_.resize({B * T, C_});
  attend_forward(train, step);
  const Tensor& p = proj.forward(att_);
  resid_drop_.forward(p, y_, train, step);
  return y_;
}

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
void CausalSelfAttention::attend_forward(bool train, uint64_t step) {
  const int64_t T = T_, C = C_, hs = C_ / H_, ld = 3 * C_, Tp = round8(T_);
  const float scale = 1.0f / std::sqrt(float(hs));
  const float* base = qkv_out_->data();
  attn_drop_.begin(probs_.numel(), train, step);
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t bh = 0; bh < B_ * H_; ++bh) {
    static thread_local std::vector<float> kt, S;
    S.resize(size_t(kGroup * Tp));
    const int64_t b = bh / H_, h = bh % H_;
    const float *q = base + b * T * ld + h * hs, *k = q + C, *v = q + 2 * C;
    transpose_padded(k, ld, T, hs, kt);
    float* P = probs_.data() + bh * T * T;
    for (int64_t i0 = 0; i0 < T; i0 += kGroup) {
      const int64_t rows = std::min(kGroup, T - i0), end = i0 + rows;
      // Scores of rows i0 .. end up to the vector holding the last diagonal; entries past a
      // row's own diagonal are unused.
      weighted_rows(q + i0 * ld, ld, 1, kt.data(), Tp, hs, std::min(round8(end), Tp), S.data(), Tp, rows);
      for (int64_t i = i0; i < end; ++i) {
        const float* s = S.data() + (i - i0) * Tp;
        float mx = -INFINITY, sum = 0.0f, *p = P + i * T;
        for (int64_t j = 0; j <= i; ++j) mx = std::max(mx, s[j] * scale);
        for (int64_t j = 0; j <= i; ++j) sum += (p[j] = std::exp(s[j] * scale - mx));
        const float inv = 1.0f / sum;
        for (int64_t j = 0; j <= i; ++j) p[j] *= inv;
        std::fill(p + i + 1, p + T, 0.0f);
      }
    }
    float* D = dropped_.data() + bh * T * T;
    attn_drop_.apply(P, D, bh * T * T, T * T);
    for (int64_t i0 = 0; i0 < T; i0 += kGroup) {
      const int64_t rows = std::min(kGroup, T - i0);
      weighted_rows(D + i0 * T, T, 1, v, ld, i0 + rows, hs, att_.data() + (b * T + i0) * C + h * hs, C, rows);
    }
  }
}

const Tensor& CausalSelfAttention::backward(const Tensor& dy) {
  resid_drop_.backward(dy, dtmp_);
  const Tensor& datt = proj.backward(dtmp_);
  attend_backward(datt);
  return qkv.backward(dqkv_);
}

// One parallel pass over (b, h), writing that head's q, k and v gradient columns in full: rows
// of the score gradient (with dq), then columns (dk and dv: key j gets the rows i >= j).
void CausalSelfAttention::attend_backward(const Tensor& datt) {
  const int64_t T = T_, C = C_, hs = C_ / H_, ld = 3 * C_, Tp = round8(T_);
  const float scale = 1.0f / std::sqrt(float(hs));
  const float* base = qkv_out_->data();
  dqkv_.resize({B_ * T, 3 * C});
  dprobs_.resize(probs_.shape());
#pragma omp parallel for schedule(dynamic, 4)
  for (int64_t bh = 0; bh < B_ * H_; ++bh) {
    static thread_local std::vector<float> vt, S;
    S.resize(size_t(kGroup * Tp));
    const int64_t b = bh / H_, h = bh % H_;
    const float *q = base + b * T * ld + h * hs, *k = q + C, *v = q + 2 * C;
    const float* g = datt.data() + b * T * C + h * hs;
    float* dq = dqkv_.data() + b * T * ld + h * hs;  // this head's dq; dk at +C, dv at +2C
    transpose_padded(v, ld, T, hs, vt);
    const float *P = probs_.data() + bh * T * T, *D = dropped_.data() + bh * T * T;
    float* dS = dprobs_.data() + bh * T * T;
    for (int64_t i0 = 0; i0 < T; i0 += kGroup) {
      const int64_t rows = std::min(kGroup, T - i0), end = i0 + rows;
      weighted_rows(g + i0 * C, C, 1, vt.data(), Tp, hs, std::min(round8(end), Tp), S.data(), Tp, rows);
      for (int64_t i = i0; i < end; ++i) {
        float* ds = dS + i * T;
        std::copy_n(S.data() + (i - i0) * Tp, i + 1, ds);  // gradient w.r.t. the dropped weights
        std::fill(ds + i + 1, ds + T, 0.0f);
        attn_drop_.apply_backward(ds, ds, bh * T * T + i * T, i + 1);
        const float* p = P + i * T;
        float pdp = 0.0f;
        for (int64_t j = 0; j <= i; ++j) pdp += p[j] * ds[j];
        for (int64_t j = 0; j <= i; ++j) ds[j] = p[j] * (ds[j] - pdp) * scale;  // softmax backward
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

void CausalSelfAttention::collect_parameters(std::vector<Parameter*>& out) {
  qkv.collect_parameters(out);
  proj.collect_parameters(out);
}

}  // namespace peer
