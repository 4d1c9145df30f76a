#include "core/nn/cross_entropy.h"

#include <algorithm>

#include "core/ops/cross_entropy.h"

namespace peer {

double cross_entropy(const Tensor& logits, const int32_t* targets, Tensor* dlogits, float grad_scale) {
  const int64_t n = logits.dim(0);
  Tensor host_targets({n}, Device::CPU, DType::I32), row_loss, loss;
  std::copy(targets, targets + n, host_targets.data_i32());
  cross_entropy(logits, host_targets.to(logits.device()), row_loss, loss, dlogits, grad_scale);
  return loss.to(Device::CPU).data_f64()[0];
}

}  // namespace peer
