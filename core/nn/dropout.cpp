#include "core/nn/dropout.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "core/rng.h"

namespace peer {

namespace {
constexpr int64_t kChunk = 16384;  // elements per parallel task (a multiple of 8)
}

void Dropout::begin(int64_t n, bool train, uint64_t step) {
  active_ = train && p_ > 0.0f;
  step_ = step;
  if (active_) mask_.resize(n);
}

void Dropout::apply(const float* x, float* y, int64_t first, int64_t count) {
  if (!active_) {
    if (y != x) std::copy(x, x + count, y);
    return;
  }
  // Blocks b0 .. b1-1 hold the draws of elements 8 b0 .. 8 b1 - 1; on a little-endian CPU their
  // words, read as 16-bit halves, are those draws in element order.
  static_assert(std::endian::native == std::endian::little);
  static thread_local std::vector<uint32_t> words;
  static thread_local std::vector<uint16_t> draws;
  const int64_t b0 = first / 8, b1 = (first + count + 7) / 8;
  words.resize(size_t(4 * (b1 - b0)));
  draws.resize(2 * words.size());
  Philox(seed_, stream_).blocks((step_ << 32) + uint64_t(b0), b1 - b0, words.data());
  std::memcpy(draws.data(), words.data(), words.size() * sizeof(uint32_t));
  const uint16_t* draw = draws.data() + (first - 8 * b0);
  const uint32_t threshold = uint32_t(p_ * 65536.0f);
  const float scale = 1.0f / (1.0f - p_);
  float* mask = mask_.data() + first;
  for (int64_t i = 0; i < count; ++i) {
    mask[i] = draw[i] >= threshold ? scale : 0.0f;
    y[i] = x[i] * mask[i];
  }
}

void Dropout::apply_backward(const float* dy, float* dx, int64_t first, int64_t count) const {
  if (!active_) {
    if (dx != dy) std::copy(dy, dy + count, dx);
    return;
  }
  const float* mask = mask_.data() + first;
  for (int64_t i = 0; i < count; ++i) dx[i] = dy[i] * mask[i];
}

void Dropout::forward(const float* x, float* y, int64_t n, bool train, uint64_t step) {
  begin(n, train, step);
#pragma omp parallel for schedule(static) if (n > kChunk)
  for (int64_t c = 0; c < n; c += kChunk) apply(x + c, y + c, c, std::min(kChunk, n - c));
}

void Dropout::backward(const float* dy, float* dx, int64_t n) const {
#pragma omp parallel for schedule(static) if (n > kChunk)
  for (int64_t c = 0; c < n; c += kChunk) apply_backward(dy + c, dx + c, c, std::min(kChunk, n - c));
}

}  // namespace peer
