#include "core/ops/embedding.h"

#include <algorithm>

namespace peer {

void embedding_forward(const Tensor& W, const Tensor& ids, Tensor& y) {
  const int64_t n = ids.numel(), d = W.dim(1);
  y.resize({n, d}, W.device());
  if (W.device() == Device::CUDA) return cuda::embedding_forward(W, ids, y);
  const int32_t* id = ids.data_i32();
  for (int64_t i = 0; i < n; ++i) {
    const float* row = W.data() + int64_t(id[i]) * d;
    std::copy(row, row + d, y.data() + i * d);
  }
}

void embedding_backward(const Tensor& dy, const Tensor& ids, Tensor& dW) {
  if (dW.device() == Device::CUDA) return cuda::embedding_backward(dy, ids, dW);
  const int64_t n = ids.numel(), d = dW.dim(1);
  const int32_t* id = ids.data_i32();
  for (int64_t i = 0; i < n; ++i) {
    float* g = dW.data() + int64_t(id[i]) * d;
    const float* r = dy.data() + i * d;
    for (int64_t j = 0; j < d; ++j) g[j] += r[j];
  }
}

}  // namespace peer
