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
  y_.resize(p.shape());
  resid_drop_.forward(p.data(), y_.data(), p.numel(), train, step);
  return y_;
}

namespace {

// out[0..n) = sum over t < count of w[t * ws] * x[t * xs + 0..n): every product of the attention
// core is one of these (a row of weights against rows of q, k, v or their gradients). Each
// 8-float column block is summed in a register (core/simd.h), so no sum waits on a store to
// memory, and rows of a few dozen floats do not pay a vectorised loop's prologue and remainder.
void weighted_rows(const float* w, int64_t ws, const float* x, int64_t xs, int64_t count, int64_t n, float* out) {
  int64_t d = 0;
  for (; d + 8 <= n; d += 8) {
    v8 acc = {};
    for (int64_t t = 0; t < count; ++t) acc += w[t * ws] * load8(x + t * xs + d);
    store8(out + d, acc);
  }
  for (; d < n; ++d) {
    float acc = 0.0f;
    for (int64_t t = 0; t < count; ++t) acc += w[t * ws] * x[t * xs + d];
    out[d] = acc;
  }
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
    static thread_local std::vector<float> kt, row;
    row.resize(size_t(Tp));
    const int64_t b = bh / H_, h = bh % H_;
    const float *q = base + b * T * ld + h * hs, *k = q + C, *v = q + 2 * C;
    transpose_padded(k, ld, T, hs, kt);
    float* P = probs_.data() + bh * T * T;
    for (int64_t i = 0; i < T; ++i) {
      // Scores up to the end of the vector holding the diagonal; entries past i are unused.
      weighted_rows(q + i * ld, 1, kt.data(), Tp, hs, std::min(round8(i + 1), Tp), row.data());
      float mx = -INFINITY, sum = 0.0f, *p = P + i * T;
      for (int64_t j = 0; j <= i; ++j) mx = std::max(mx, row[j] * scale);
      for (int64_t j = 0; j <= i; ++j) sum += (p[j] = std::exp(row[j] * scale - mx));
      const float inv = 1.0f / sum;
      for (int64_t j = 0; j <= i; ++j) p[j] *= inv;
      std::fill(p + i + 1, p + T, 0.0f);
    }
    float* D = dropped_.data() + bh * T * T;
    attn_drop_.apply(P, D, bh * T * T, T * T);
    for (int64_t i = 0; i < T; ++i) weighted_rows(D + i * T, 1, v, ld, i + 1, hs, att_.data() + (b * T + i) * C + h * hs);
  }
}

const Tensor& CausalSelfAttention::backward(const Tensor& dy) {
  dtmp_.resize(dy.shape());
  resid_drop_.backward(dy.data(), dtmp_.data(), dy.numel());
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
    static thread_local std::vector<float> vt, row;
    row.resize(size_t(Tp));
    const int64_t b = bh / H_, h = bh % H_;
    const float *q = base + b * T * ld + h * hs, *k = q + C, *v = q + 2 * C;
    const float* g = datt.data() + b * T * C + h * hs;
    float* dq = dqkv_.data() + b * T * ld + h * hs;  // this head's dq; dk at +C, dv at +2C
    transpose_padded(v, ld, T, hs, vt);
    const float *P = probs_.data() + bh * T * T, *D = dropped_.data() + bh * T * T;
    float* dS = dprobs_.data() + bh * T * T;
    for (int64_t i = 0; i < T; ++i) {
      float* ds = dS + i * T;
      weighted_rows(g + i * C, 1, vt.data(), Tp, hs, std::min(round8(i + 1), Tp), row.data());
      std::copy_n(row.begin(), i + 1, ds);  // gradient w.r.t. the dropped weights
      std::fill(ds + i + 1, ds + T, 0.0f);
      attn_drop_.apply_backward(ds, ds, bh * T * T + i * T, i + 1);
      const float* p = P + i * T;
      float pdp = 0.0f;
      for (int64_t j = 0; j <= i; ++j) pdp += p[j] * ds[j];
      for (int64_t j = 0; j <= i; ++j) ds[j] = p[j] * (ds[j] - pdp) * scale;  // softmax backward
      weighted_rows(ds, 1, k, ld, i + 1, hs, dq + i * ld);
    }
    for (int64_t j = 0; j < T; ++j) {
      weighted_rows(dS + j * T + j, T, q + j * ld, ld, T - j, hs, dq + j * ld + C);
      weighted_rows(D + j * T + j, T, g + j * C, C, T - j, hs, dq + j * ld + 2 * C);
    }
  }
}

void CausalSelfAttention::collect_parameters(std::vector<Parameter*>& out) {
  qkv.collect_parameters(out);
  proj.collect_parameters(out);
}

}  // namespace peer
