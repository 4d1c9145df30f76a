#include "core/nn/cross_entropy.h"

#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

namespace peer {

double cross_entropy(const Tensor& logits, const int32_t* targets, Tensor* dlogits, float grad_scale) {
  int64_t n = logits.dim(0), v = logits.dim(1);
  if (dlogits) dlogits->resize({n, v});
  for (int64_t i = 0; i < n; ++i)
    if (targets[i] < 0 || targets[i] >= v)
      throw std::out_of_range("[cross_entropy] target " + std::to_string(targets[i]) + " outside vocabulary");
  // Rows in parallel; their losses are summed afterwards in row order (thread-count independent).
  std::vector<double> row_loss(static_cast<size_t>(n));
#pragma omp parallel for schedule(static) if (n * v > 16384)
  for (int64_t i = 0; i < n; ++i) {
    const float* z = logits.data() + i * v;
    float mx = z[0];
    for (int64_t j = 1; j < v; ++j) mx = std::max(mx, z[j]);
    double sum = 0.0;
    for (int64_t j = 0; j < v; ++j) sum += std::exp(double(z[j] - mx));
    double lse = mx + std::log(sum);
    row_loss[size_t(i)] = lse - z[targets[i]];
    if (dlogits) {
      float* g = dlogits->data() + i * v;
      float scale = grad_scale / float(n);
      for (int64_t j = 0; j < v; ++j) g[j] = float(std::exp(double(z[j]) - lse)) * scale;
      g[targets[i]] -= scale;
    }
  }
  double total = 0.0;
  for (double l : row_loss) total += l;
  return total / double(n);
}

}  // namespace peer
