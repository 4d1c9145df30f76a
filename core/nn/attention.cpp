#include "core/nn/attention.h"

#include "core/vec.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

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

// Head h of sequence b: q row i at qkv[b*T+i, h*hs], k at column offset +C, v at +2C.
void CausalSelfAttention::attend_forward(bool train, uint64_t step) {
  const int64_t T = T_, C = C_, hs = C_ / H_, ld = 3 * C_;
  const float scale = 1.0f / std::sqrt(float(hs));
  const float* base = qkv_out_->data();
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B_ * H_; ++bh) {
    int64_t b = bh / H_, h = bh % H_;
    float* P = probs_.data() + bh * T * T;
    for (int64_t i = 0; i < T; ++i) {
      const float* q = base + (b * T + i) * ld + h * hs;
      float* row = P + i * T;
      float mx = -INFINITY;
      for (int64_t j = 0; j <= i; ++j) {
        const float* k = base + (b * T + j) * ld + C + h * hs;
        row[j] = dot(q, k, hs) * scale;
        mx = std::max(mx, row[j]);
      }
      float sum = 0.0f;
      for (int64_t j = 0; j <= i; ++j) sum += (row[j] = std::exp(row[j] - mx));
      for (int64_t j = 0; j <= i; ++j) row[j] /= sum;
      for (int64_t j = i + 1; j < T; ++j) row[j] = 0.0f;
    }
  }
  attn_drop_.forward(probs_.data(), dropped_.data(), probs_.numel(), train, step);
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B_ * H_; ++bh) {
    int64_t b = bh / H_, h = bh % H_;
    const float* P = dropped_.data() + bh * T * T;
    for (int64_t i = 0; i < T; ++i) {
      float* out = att_.data() + (b * T + i) * C + h * hs;
      std::fill(out, out + hs, 0.0f);
      for (int64_t j = 0; j <= i; ++j) axpy(P[i * T + j], base + (b * T + j) * ld + 2 * C + h * hs, out, hs);
    }
  }
}

const Tensor& CausalSelfAttention::backward(const Tensor& dy) {
  dtmp_.resize(dy.shape());
  resid_drop_.backward(dy.data(), dtmp_.data(), dy.numel());
  const Tensor& datt = proj.backward(dtmp_);
  attend_backward(datt);
  return qkv.backward(dqkv_);
}

void CausalSelfAttention::attend_backward(const Tensor& datt) {
  const int64_t T = T_, C = C_, hs = C_ / H_, ld = 3 * C_;
  const float scale = 1.0f / std::sqrt(float(hs));
  const float* base = qkv_out_->data();
  dqkv_.resize({B_ * T, 3 * C});
  dqkv_.zero();
  dprobs_.resize(probs_.shape());
  // Gradient w.r.t. the dropped weights, and v's gradient.
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B_ * H_; ++bh) {
    int64_t b = bh / H_, h = bh % H_;
    const float* P = dropped_.data() + bh * T * T;
    float* dP = dprobs_.data() + bh * T * T;
    for (int64_t i = 0; i < T; ++i) {
      const float* g = datt.data() + (b * T + i) * C + h * hs;
      for (int64_t j = 0; j <= i; ++j) {
        const float* v = base + (b * T + j) * ld + 2 * C + h * hs;
        float* dv = dqkv_.data() + (b * T + j) * ld + 2 * C + h * hs;
        axpy(P[i * T + j], g, dv, hs);
        dP[i * T + j] = dot(g, v, hs);
      }
      for (int64_t j = i + 1; j < T; ++j) dP[i * T + j] = 0.0f;
    }
  }
  attn_drop_.backward(dprobs_.data(), dprobs_.data(), dprobs_.numel());
  // Softmax backward, then q and k gradients.
#pragma omp parallel for schedule(static)
  for (int64_t bh = 0; bh < B_ * H_; ++bh) {
    int64_t b = bh / H_, h = bh % H_;
    const float* P = probs_.data() + bh * T * T;
    float* dP = dprobs_.data() + bh * T * T;
    for (int64_t i = 0; i < T; ++i) {
      float dot = 0.0f;
      for (int64_t j = 0; j <= i; ++j) dot += P[i * T + j] * dP[i * T + j];
      const float* q = base + (b * T + i) * ld + h * hs;
      float* dq = dqkv_.data() + (b * T + i) * ld + h * hs;
      for (int64_t j = 0; j <= i; ++j) {
        float ds = P[i * T + j] * (dP[i * T + j] - dot) * scale;
        const float* k = base + (b * T + j) * ld + C + h * hs;
        float* dk = dqkv_.data() + (b * T + j) * ld + C + h * hs;
        axpy(ds, k, dq, hs);
        axpy(ds, q, dk, hs);
      }
    }
  }
}

void CausalSelfAttention::collect_parameters(std::vector<Parameter*>& out) {
  qkv.collect_parameters(out);
  proj.collect_parameters(out);
}

}  // namespace peer
