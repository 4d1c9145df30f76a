// Inverted dropout with a counter-based mask (the rule: core/ops/dropout_math.h): element i at
// step s is kept iff its 16-bit draw from Philox(seed, stream) is >= p * 65536. The mask is kept
// for backward as the factor each element was multiplied by (0 or 1 / (1 - p)), on the input's
// device. Since each element's draw depends only on its index, a layer may apply dropout to parts
// of its tensor from inside its own parallel loop (begin / apply / apply_backward, CPU); forward
// and backward do the whole tensor on its device.
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

  // A CPU forward of n elements in parts: begin, then apply on disjoint ranges covering [0, n)
  // (from any threads); x, y, dy and dx point at the range's first element.
  void begin(int64_t n, bool train, uint64_t step);
  void apply(const float* x, float* y, int64_t first, int64_t count);
  void apply_backward(const float* dy, float* dx, int64_t first, int64_t count) const;

  // Sets the mask rule for a forward at `step` (forward and begin call it). A layer whose own
  // kernels draw the mask (attention on CUDA) calls it and passes rule() on: the rule of the
  // last start, null when it drops nothing (evaluation, or p = 0).
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
