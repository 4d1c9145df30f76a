// Inverted dropout with a counter-based mask (the rule: core/ops/dropout_math.h): element i at
// step s is kept iff its 16-bit draw from Philox(seed, stream) is >= p * 65536. The mask is kept
// for backward as the factor each element was multiplied by (0 or 1 / (1 - p)), on the input's
// device. Each element's draw depends only on its index, so an op may apply the same dropout to
// parts of a tensor from inside its own parallel loop (attention: rule() and the range functions
// of core/ops/dropout.h).
#pragma once

#include <cstdint>

#include "core/ops/dropout_math.h"
#include "core/tensor.h"

namespace peer {

class Dropout {
 public:
  Dropout(float p, uint64_t seed, uint64_t stream) : p_(p), seed_(seed), stream_(stream) {}
  // y = x * mask / (1 - p) when training and p > 0, else y = x; y takes x's shape and device
  // and may be x. A dropped element is x * 0, so NaN and Inf stay visible.
  void forward(const Tensor& x, Tensor& y, bool train, uint64_t step);
  // dx = dy * mask / (1 - p) for the last forward (identity if it was inactive). dx may be dy;
  // like the forward, a dropped NaN or Inf gradient stays NaN.
  void backward(const Tensor& dy, Tensor& dx) const;

  // Sets the mask rule for a forward at `step` (forward calls it). A layer whose op draws the mask
  // itself (attention) calls it and passes rule() on: the rule of the last start, null when it
  // drops nothing (evaluation, or p = 0).
  void start(bool train, uint64_t step);
  const DropoutRule* rule() const { return active_ ? &rule_ : nullptr; }

 private:

  float p_;
  uint64_t seed_, stream_;
  DropoutRule rule_{};
  bool active_ = false;
  Tensor mask_;  // (n): the factors of the last forward
};

}  // namespace peer
