#include "core/optim/adamw.h"

#include <algorithm>
#include <cmath>

namespace peer {

namespace {
// One Adam update of n contiguous elements; g == nullptr means a zero gradient.
inline void adam_update(float* w, const float* g, float* m, float* v, int64_t n, float lr, float b1, float b2,
                        float c1, float c2, float eps, float wd) {
  for (int64_t i = 0; i < n; ++i) {
    float gi = g ? g[i] : 0.0f;
    m[i] = b1 * m[i] + (1.0f - b1) * gi;
    v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
    w[i] -= lr * (m[i] * c1 / (std::sqrt(v[i] * c2) + eps) + wd * w[i]);
  }
}

template <class F>
void for_each_grad(const std::vector<Parameter*>& params, F f) {
  for (Parameter* p : params) {
    if (!p->trainable()) continue;
    if (p->sparse) f(p->sparse_grad.values.data(), int64_t(p->sparse_grad.rows.size()) *
                                                       (p->value.ndim() > 1 ? p->value.dim(1) : 1));
    else f(p->grad.data(), p->grad.numel());
  }
}
}  // namespace

AdamW::AdamW(std::vector<Parameter*> params, AdamWOptions opt) : params_(std::move(params)), opt_(opt) {
  for (Parameter* p : params_)
    if (p->trainable()) state_[p->name] = {Tensor(p->value.shape()), Tensor(p->value.shape())};
}

void AdamW::step(float lr) {
  ++t_;
  const float c1 = 1.0f / (1.0f - std::pow(opt_.beta1, float(t_)));
  const float c2 = 1.0f / (1.0f - std::pow(opt_.beta2, float(t_)));
  // Dense parameters: fixed chunks of all of them in one parallel loop (one region per step, and
  // the many small parameters do not run on one thread). Each element's update is independent,
  // so the split does not change any result.
  struct Chunk {
    Parameter* p;
    Moments* s;
    int64_t i0, n;
  };
  constexpr int64_t kChunk = 4096;
  std::vector<Chunk> work;
  for (Parameter* p : params_) {
    if (!p->trainable()) continue;
    Moments& s = state_.at(p->name);
    if (p->sparse) {
      update_rows(*p, s, lr, c1, c2);
      continue;
    }
    for (int64_t i0 = 0, n = p->value.numel(); i0 < n; i0 += kChunk)
      work.push_back({p, &s, i0, std::min(kChunk, n - i0)});
  }
#pragma omp parallel for schedule(static)
  for (size_t w = 0; w < work.size(); ++w) {
    const Chunk& c = work[w];
    const float wd = c.p->decay ? opt_.weight_decay : 0.0f;
    adam_update(c.p->value.data() + c.i0, c.p->grad.data() + c.i0, c.s->m.data() + c.i0, c.s->v.data() + c.i0, c.n, lr,
                opt_.beta1, opt_.beta2, c1, c2, opt_.eps, wd);
  }
}

void AdamW::to(Device d) {
  for (auto& [name, s] : state_) {
    s.m = s.m.to(d);
    s.v = s.v.to(d);
  }
}

void AdamW::update_rows(Parameter& p, Moments& s, float lr, float c1, float c2) {
  const int64_t width = p.value.dim(1), rows = p.value.dim(0);
  const float wd = p.decay ? opt_.weight_decay : 0.0f;
  const std::vector<int32_t>& touched = p.sparse_grad.rows;
  const float* g = p.sparse_grad.values.data();
  auto row = [&](int64_t r, const float* gr) {
    adam_update(p.value.data() + r * width, gr, s.m.data() + r * width, s.v.data() + r * width, width, lr,
                opt_.beta1, opt_.beta2, c1, c2, opt_.eps, wd);
  };
  if (opt_.lazy_sparse) {
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < int64_t(touched.size()); ++i) row(touched[i], g + i * width);
    return;
  }
  // Dense Adam: walk all rows, pairing each with its gradient row when it has one. Each thread
  // finds its first touched row by binary search.
#pragma omp parallel
  {
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      auto it = std::lower_bound(touched.begin(), touched.end(), int32_t(r));
      bool has = it != touched.end() && *it == r;
      row(r, has ? g + (it - touched.begin()) * width : nullptr);
    }
  }
}

void AdamW::adopt_state(AdamW& old) {
  t_ = old.t_;
  for (auto& [name, s] : state_) {
    auto it = old.state_.find(name);
    if (it != old.state_.end() && it->second.m.shape() == s.m.shape()) s = it->second;
  }
}

namespace {
constexpr int64_t kNormChunk = 1 << 14;

// Sum of squares in fixed chunks, the chunk sums added in order: threads share the work of a
// large gradient (PEER's expert rows) and the result has the same bits for any thread count.
double sum_squares(const float* g, int64_t n) {
  const int64_t chunks = (n + kNormChunk - 1) / kNormChunk;
  std::vector<double> part(chunks, 0.0);
#pragma omp parallel for schedule(static) if (chunks >= 8)
  for (int64_t c = 0; c < chunks; ++c) {
    // 8 running sums, so that the adds do not wait on each other (and vectorise); the order of
    // every add is fixed.
    double s[8] = {};
    const int64_t end = std::min(n, (c + 1) * kNormChunk);
    int64_t i = c * kNormChunk;
    for (; i + 8 <= end; i += 8)
      for (int l = 0; l < 8; ++l) s[l] += double(g[i + l]) * g[i + l];
    for (; i < end; ++i) s[0] += double(g[i]) * g[i];
    part[c] = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
  }
  double sum = 0.0;
  for (double s : part) sum += s;
  return sum;
}
}  // namespace

double clip_grad_norm(const std::vector<Parameter*>& params, double max_norm) {
  double sq = 0.0;
  for_each_grad(params, [&](float* g, int64_t n) { sq += sum_squares(g, n); });
  double norm = std::sqrt(sq);
  if (max_norm > 0.0 && norm > max_norm) {
    float scale = float(max_norm / (norm + 1e-6));
    for_each_grad(params, [&](float* g, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= 8 * kNormChunk)
      for (int64_t i = 0; i < n; ++i) g[i] *= scale;
    });
  }
  return norm;
}

}  // namespace peer
