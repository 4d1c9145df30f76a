#include "core/ops/add.h"

#include <stdexcept>

namespace peer {

void add(const Tensor& a, const Tensor& b, Tensor& out) {
  if (b.numel() != a.numel() || b.device() != a.device())
    throw std::invalid_argument("[add] operands " + a.shape_str() + " and " + b.shape_str() +
                                " differ in size or device");
  out.resize(a.shape(), a.device());
  if (a.device() == Device::CUDA) return cuda::add(a, b, out);
  const float *pa = a.data(), *pb = b.data();
  float* po = out.data();
  const int64_t n = a.numel();
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) po[i] = pa[i] + pb[i];
}

}  // namespace peer
