#include "core/ops/grad_norm.h"

#include <algorithm>
#include <cmath>

namespace peer {

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

double clip_grad_norm_cpu(const std::vector<GradSpan>& grads, double max_norm) {
  double sq = 0.0;
  for (const GradSpan& s : grads) sq += sum_squares(s.g, s.n);
  double norm = std::sqrt(sq);
  if (max_norm > 0.0 && norm > max_norm) {
    float scale = float(max_norm / (norm + 1e-6));
    for (const GradSpan& s : grads) {
      float* g = s.g;
      const int64_t n = s.n;
#pragma omp parallel for schedule(static) if (n >= 8 * kNormChunk)
      for (int64_t i = 0; i < n; ++i) g[i] *= scale;
    }
  }
  return norm;
}
}  // namespace

double clip_grad_norm(Device d, const std::vector<GradSpan>& grads, double max_norm) {
  if (d == Device::CPU) return clip_grad_norm_cpu(grads, max_norm);
  Tensor norm;
  clip_grad_norm(d, grads, max_norm, norm);
  return norm.item();
}

void clip_grad_norm(Device d, const std::vector<GradSpan>& grads, double max_norm, Tensor& norm) {
  norm.resize({1}, d);
  if (d == Device::CUDA) return cuda::clip_grad_norm(grads, max_norm, norm.data());
  norm[0] = float(clip_grad_norm_cpu(grads, max_norm));
}

}  // namespace peer
