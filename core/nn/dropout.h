// Inverted dropout with a counter-based mask: element i at step s is kept iff its 16-bit draw
// (half-word i % 8 of Philox(seed, stream) block (s << 32) + i / 8) is >= p * 65536. The mask
// is kept (one byte per element) for backward.
#pragma once

#include <cstdint>
#include <vector>

namespace peer {

class Dropout {
 public:
  Dropout(float p, uint64_t seed, uint64_t stream) : p_(p), seed_(seed), stream_(stream) {}
  // y = x * mask / (1 - p) when training and p > 0, else y = x. y may alias x.
  void forward(const float* x, float* y, int64_t n, bool train, uint64_t step);
  // dx = dy * mask / (1 - p) for the last forward (identity if it was inactive). dx may alias dy.
  void backward(const float* dy, float* dx, int64_t n) const;
  float p() const { return p_; }

 private:
  float p_;
  uint64_t seed_, stream_;
  bool active_ = false;
  std::vector<uint8_t> mask_;
};

}  // namespace peer
