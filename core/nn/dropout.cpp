#include "core/nn/dropout.h"

#include <algorithm>

#include "core/ops/dropout.h"

namespace peer {

void Dropout::start(bool train, uint64_t step) {
  active_ = train && p_ > 0.0f;
  rule_ = dropout_rule(p_, seed_, stream_, step);
}

void Dropout::forward(const Tensor& x, Tensor& y, bool train, uint64_t step) {
  start(train, step);
  if (active_) dropout_forward(x, y, mask_, rule_);
  else if (&y != &x) y.copy_from(x);
}

void Dropout::backward(const Tensor& dy, Tensor& dx) const {
  if (active_) dropout_backward(dy, mask_, dx);
  else if (&dx != &dy) dx.copy_from(dy);
}

void Dropout::begin(int64_t n, bool train, uint64_t step) {
  start(train, step);
  if (active_) mask_.resize({n}, Device::CPU);
}

void Dropout::apply(const float* x, float* y, int64_t first, int64_t count) {
  if (!active_) {
    if (y != x) std::copy(x, x + count, y);
    return;
  }
  dropout_forward_range(x, y, mask_.data() + first, first, count, rule_);
}

void Dropout::apply_backward(const float* dy, float* dx, int64_t first, int64_t count) const {
  if (!active_) {
    if (dx != dy) std::copy(dy, dy + count, dx);
    return;
  }
  dropout_backward_range(dy, mask_.data() + first, dx, count);
}

}  // namespace peer
