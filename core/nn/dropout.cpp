#include "core/nn/dropout.h"

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

}  // namespace peer
