#include "core/nn/dropout.h"

#include <algorithm>

#include "core/rng.h"

namespace peer {

void Dropout::forward(const float* x, float* y, int64_t n, bool train, uint64_t step) {
  active_ = train && p_ > 0.0f;
  if (!active_) {
    if (y != x) std::copy(x, x + n, y);
    return;
  }
  mask_.resize(n);
  // 8 decisions per Philox block (16 bits each): element i uses block (step << 32) + i / 8.
  Philox rng(seed_, stream_);
  const uint32_t threshold = uint32_t(p_ * 65536.0f);
  const float scale = 1.0f / (1.0f - p_);
  int64_t blocks = (n + 7) / 8;
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t b = 0; b < blocks; ++b) {
    const std::array<uint32_t, 4> words = rng.block((step << 32) + uint64_t(b));
    for (int64_t k = 0; k < 8 && b * 8 + k < n; ++k) {
      uint32_t half = (words[k / 2] >> (16 * (k % 2))) & 0xFFFFu;
      int64_t i = b * 8 + k;
      mask_[i] = half >= threshold;
      y[i] = mask_[i] ? x[i] * scale : 0.0f;
    }
  }
}

void Dropout::backward(const float* dy, float* dx, int64_t n) const {
  if (!active_) {
    if (dx != dy) std::copy(dy, dy + n, dx);
    return;
  }
  const float scale = 1.0f / (1.0f - p_);
  for (int64_t i = 0; i < n; ++i) dx[i] = mask_[i] ? dy[i] * scale : 0.0f;
}

}  // namespace peer
