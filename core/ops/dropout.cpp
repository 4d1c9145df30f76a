#include "core/ops/dropout.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "core/rng.h"

namespace peer {

namespace {
constexpr int64_t kChunk = 16384;  // elements per parallel task (a multiple of 8)
}

void dropout_forward_range(const float* x, float* y, float* mask, int64_t first, int64_t count,
                           const DropoutRule& rule) {
  // A local copy: stores to mask and y cannot alias it, so the loop below keeps it in registers.
  const DropoutRule r = rule;
  // Blocks b0 .. b1-1 are dropout_block(r, b0 .. b1-1), 8 at a time (Philox::blocks); on a
  // little-endian CPU their words, read as 16-bit halves, are the dropout_draw of elements
  // 8 b0 .. 8 b1 - 1 in element order.
  static_assert(std::endian::native == std::endian::little);
  static thread_local std::vector<uint32_t> words;
  static thread_local std::vector<uint16_t> draws;
  const int64_t b0 = first / 8, b1 = (first + count + 7) / 8;
  words.resize(size_t(4 * (b1 - b0)));
  draws.resize(2 * words.size());
  Philox(r.seed, r.stream).blocks((r.step << 32) + uint64_t(b0), b1 - b0, words.data());
  std::memcpy(draws.data(), words.data(), words.size() * sizeof(uint32_t));
  const uint16_t* draw = draws.data() + (first - 8 * b0);
  for (int64_t i = 0; i < count; ++i) {
    mask[i] = dropout_factor(r, draw[i]);
    y[i] = x[i] * mask[i];
  }
}

void dropout_backward_range(const float* dy, const float* mask, float* dx, int64_t count) {
  for (int64_t i = 0; i < count; ++i) dx[i] = dy[i] * mask[i];
}

void dropout_forward(const Tensor& x, Tensor& y, Tensor& mask, const DropoutRule& rule) {
  const int64_t n = x.numel();
  if (&y != &x) y.resize(x.shape(), x.device());
  mask.resize({n}, x.device());
  if (x.device() == Device::CUDA) return cuda::dropout_forward(x, y, mask, rule);
  const float* xp = x.data();
  float *yp = y.data(), *mp = mask.data();
#pragma omp parallel for schedule(static) if (n > kChunk)
  for (int64_t c = 0; c < n; c += kChunk) dropout_forward_range(xp + c, yp + c, mp + c, c, std::min(kChunk, n - c), rule);
}

void dropout_backward(const Tensor& dy, const Tensor& mask, Tensor& dx) {
  const int64_t n = dy.numel();
  if (mask.numel() != n || mask.device() != dy.device())
    throw std::invalid_argument("[dropout] gradient " + dy.shape_str() + " does not match the mask " + mask.shape_str());
  if (&dx != &dy) dx.resize(dy.shape(), dy.device());
  if (dy.device() == Device::CUDA) return cuda::dropout_backward(dy, mask, dx);
  const float *dyp = dy.data(), *mp = mask.data();
  float* dxp = dx.data();
#pragma omp parallel for schedule(static) if (n > kChunk)
  for (int64_t c = 0; c < n; c += kChunk) dropout_backward_range(dyp + c, mp + c, dxp + c, std::min(kChunk, n - c));
}

}  // namespace peer
