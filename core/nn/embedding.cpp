#include "core/nn/embedding.h"

#include <algorithm>
#include <stdexcept>

namespace peer {

Embedding::Embedding(const std::string& name, int64_t num, int64_t dim)
    : weight(name + ".weight", {num, dim}, false) {}

const Tensor& Embedding::forward(const int32_t* ids, int64_t n) {
  int64_t d = weight.value.dim(1);
  y_.resize({n, d});
  ids_.assign(ids, ids + n);
  for (int64_t i = 0; i < n; ++i) {
    if (ids[i] < 0 || ids[i] >= num())
      throw std::out_of_range("[embedding " + weight.name + "] index " + std::to_string(ids[i]) +
                              " outside [0, " + std::to_string(num()) + ")");
    const float* row = weight.value.data() + int64_t(ids[i]) * d;
    std::copy(row, row + d, y_.data() + i * d);
  }
  return y_;
}

void Embedding::backward(const Tensor& dy) {
  if (weight.frozen) return;
  int64_t d = weight.value.dim(1);
  // Sequential over rows: repeated ids accumulate in a fixed order (deterministic).
  for (size_t i = 0; i < ids_.size(); ++i) {
    float* g = weight.grad.data() + int64_t(ids_[i]) * d;
    const float* r = dy.data() + i * d;
    for (int64_t j = 0; j < d; ++j) g[j] += r[j];
  }
}

}  // namespace peer
