#include "core/optim/adamw.h"

#include <cmath>

namespace peer {

AdamW::AdamW(std::vector<Parameter*> params, AdamWOptions opt) : params_(std::move(params)), opt_(opt) {
  for (Parameter* p : params_)
    if (!p->frozen) state_[p->name] = {Tensor(p->value.shape()), Tensor(p->value.shape())};
}

void AdamW::step(float lr) {
  ++t_;
  const float b1 = opt_.beta1, b2 = opt_.beta2;
  const float c1 = 1.0f / (1.0f - std::pow(b1, float(t_)));
  const float c2 = 1.0f / (1.0f - std::pow(b2, float(t_)));
  for (Parameter* p : params_) {
    if (p->frozen) continue;
    Moments& s = state_.at(p->name);
    float *w = p->value.data(), *g = p->grad.data(), *m = s.m.data(), *v = s.v.data();
    const float wd = p->decay ? opt_.weight_decay : 0.0f;
    const int64_t n = p->value.numel();
#pragma omp parallel for schedule(static) if (n > 65536)
    for (int64_t i = 0; i < n; ++i) {
      m[i] = b1 * m[i] + (1.0f - b1) * g[i];
      v[i] = b2 * v[i] + (1.0f - b2) * g[i] * g[i];
      w[i] -= lr * (m[i] * c1 / (std::sqrt(v[i] * c2) + opt_.eps) + wd * w[i]);
    }
  }
}

double clip_grad_norm(const std::vector<Parameter*>& params, double max_norm) {
  double sq = 0.0;
  for (const Parameter* p : params) {
    if (p->frozen) continue;
    const float* g = p->grad.data();
    for (int64_t i = 0; i < p->grad.numel(); ++i) sq += double(g[i]) * g[i];
  }
  double norm = std::sqrt(sq);
  if (max_norm > 0.0 && norm > max_norm) {
    float scale = float(max_norm / (norm + 1e-6));
    for (Parameter* p : params) {
      if (p->frozen) continue;
      float* g = p->grad.data();
      for (int64_t i = 0; i < p->grad.numel(); ++i) g[i] *= scale;
    }
  }
  return norm;
}

}  // namespace peer
