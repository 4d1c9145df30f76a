#include "core/nn/embedding.h"

#include <stdexcept>

#include "core/ops/embedding.h"

namespace peer {

Embedding::Embedding(const std::string& name, int64_t num, int64_t dim)
    : weight(name + ".weight", {num, dim}, false) {}

void Embedding::check_ids(const int32_t* id, int64_t n) const {
  for (int64_t i = 0; i < n; ++i)
    if (id[i] < 0 || id[i] >= num())
      throw std::out_of_range("[embedding " + weight.name + "] index " + std::to_string(id[i]) + " outside [0, " +
                              std::to_string(num()) + ")");
}

const Tensor& Embedding::forward(const Tensor& ids) {
  if (ids.device() == Device::CPU) check_ids(ids.data_i32(), ids.numel());
  ids_.copy_from(ids.to(weight.value.device()));
  embedding_forward(weight.value, ids_, y_);
  return y_;
}

const Tensor& Embedding::forward(const int32_t* ids, int64_t n) {
  check_ids(ids, n);
  ids_.assign(ids, {n}, weight.value.device());
  embedding_forward(weight.value, ids_, y_);
  return y_;
}

void Embedding::backward(const Tensor& dy) {
  if (weight.frozen) return;
  embedding_backward(dy, ids_, weight.grad);
}

}  // namespace peer
