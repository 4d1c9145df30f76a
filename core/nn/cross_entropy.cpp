#include "core/nn/cross_entropy.h"

#include <cmath>
#include <stdexcept>
#include <string>

namespace peer {

double cross_entropy(const Tensor& logits, const int32_t* targets, Tensor* dlogits, float grad_scale) {
  int64_t n = logits.dim(0), v = logits.dim(1);
  if (dlogits) dlogits->resize({n, v});
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    if (targets[i] < 0 || targets[i] >= v)
      throw std::out_of_range("[cross_entropy] target " + std::to_string(targets[i]) + " outside vocabulary");
    const float* z = logits.data() + i * v;
    float mx = z[0];
    for (int64_t j = 1; j < v; ++j) mx = std::max(mx, z[j]);
    double sum = 0.0;
    for (int64_t j = 0; j < v; ++j) sum += std::exp(double(z[j] - mx));
    double lse = mx + std::log(sum);
    total += lse - z[targets[i]];
    if (dlogits) {
      float* g = dlogits->data() + i * v;
      float scale = grad_scale / float(n);
      for (int64_t j = 0; j < v; ++j) g[j] = float(std::exp(double(z[j]) - lse)) * scale;
      g[targets[i]] -= scale;
    }
  }
  return total / double(n);
}

}  // namespace peer
