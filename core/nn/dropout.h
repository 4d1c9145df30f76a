// Inverted dropout with a counter-based mask: element i at step s is kept iff its 16-bit draw
// (half-word i % 8 of Philox(seed, stream) block (s << 32) + i / 8) is >= p * 65536. The mask
// is kept for backward as the factor each element was multiplied by (0 or 1 / (1 - p)). Since
// each element's draw depends only on its index, a layer may apply dropout to parts of its
// tensor from inside its own parallel loop (begin / apply / apply_backward); forward and
// backward do the whole tensor.
#pragma once

#include <cstdint>
#include <vector>

namespace peer {

class Dropout {
 public:
  Dropout(float p, uint64_t seed, uint64_t stream) : p_(p), seed_(seed), stream_(stream) {}
  // y = x * mask / (1 - p) when training and p > 0, else y = x. y may alias x. A dropped
  // element is x * 0, so NaN and Inf stay visible.
  void forward(const float* x, float* y, int64_t n, bool train, uint64_t step);
  // dx = dy * mask / (1 - p) for the last forward (identity if it was inactive). dx may alias dy;
  // like the forward, a dropped NaN or Inf gradient stays NaN.
  void backward(const float* dy, float* dx, int64_t n) const;

  // A forward of n elements in parts: begin, then apply on disjoint ranges covering [0, n)
  // (from any threads); x, y, dy and dx point at the range's first element.
  void begin(int64_t n, bool train, uint64_t step);
  void apply(const float* x, float* y, int64_t first, int64_t count);
  void apply_backward(const float* dy, float* dx, int64_t first, int64_t count) const;

 private:
  float p_;
  uint64_t seed_, stream_, step_ = 0;
  bool active_ = false;
  std::vector<float> mask_;
};

}  // namespace peer
