#include "core/ops/cross_entropy.h"

#include <stdexcept>
#include <string>

#include "core/ops/softmax_math.h"

namespace peer {

void cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& row_loss, Tensor& loss, Tensor* dlogits,
                   float grad_scale) {
  const int64_t n = logits.dim(0), v = logits.dim(1);
  const Device dev = logits.device();
  if (targets.numel() != n || targets.device() != dev)
    throw std::invalid_argument("[cross_entropy] targets " + targets.shape_str() + " for logits " + logits.shape_str());
  row_loss.resize({n}, dev, DType::F64);
  loss.resize({1}, dev, DType::F64);
  if (dlogits) dlogits->resize({n, v}, dev);
  if (dev == Device::CUDA) return cuda::cross_entropy(logits, targets, row_loss, loss, dlogits, grad_scale);
  const int32_t* t = targets.data_i32();
  for (int64_t i = 0; i < n; ++i)
    if (t[i] < 0 || t[i] >= v)
      throw std::out_of_range("[cross_entropy] target " + std::to_string(t[i]) + " outside vocabulary");
  // Rows in parallel; their losses are summed afterwards in row order (thread-count independent).
  const float* zs = logits.data();
  float* gs = dlogits ? dlogits->data() : nullptr;
  double* rl = row_loss.data_f64();
  const float scale = grad_scale / float(n);
#pragma omp parallel for schedule(static) if (n * v > 16384)
  for (int64_t i = 0; i < n; ++i) {
    const float* z = zs + i * v;
    const float mx = row_max(z, 0, v, 1);
    const double lse = log_sum_exp(mx, row_sum_exp(z, 0, v, 1, mx));
    rl[i] = cross_entropy_row_loss(lse, z[t[i]]);
    if (gs) {
      float* g = gs + i * v;
      cross_entropy_row_grad(z, g, 0, v, 1, lse, scale);
      g[t[i]] -= scale;
    }
  }
  double total = 0.0;
  for (int64_t i = 0; i < n; ++i) total += rl[i];
  loss.data_f64()[0] = total / double(n);
}

}  // namespace peer
