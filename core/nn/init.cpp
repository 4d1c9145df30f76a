#include "core/nn/init.h"

#include <array>
#include <cmath>
#include <stdexcept>

#include "core/rng.h"

namespace peer {

InitScheme parse_init(const std::string& name) {
  if (name == "kaiming") return InitScheme::Kaiming;
  if (name == "xavier") return InitScheme::Xavier;
  if (name == "normal") return InitScheme::Normal;
  throw std::invalid_argument("[init] unknown scheme '" + name + "' (expected kaiming, xavier or normal)");
}

namespace {
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}
}  // namespace

void init_normal(Parameter& p, float std, uint64_t seed) {
  Philox rng(seed, fnv1a(p.name) ^ kStreamInit);
  float* w = p.value.data();
  const int64_t n = p.value.numel();
  // Counter-based draws: parallel and still independent of the thread count.
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t b = 0; b < (n + 3) / 4; ++b) {
    std::array<float, 4> z = rng.normal4(uint64_t(b));
    for (int64_t j = 0; j < 4 && 4 * b + j < n; ++j) w[4 * b + j] = std * z[j];
  }
}

void init_linear_weight(Parameter& p, InitScheme s, uint64_t seed) {
  double fan_out = double(p.value.dim(0)), fan_in = double(p.value.numel()) / fan_out;
  double std = s == InitScheme::Kaiming  ? std::sqrt(2.0 / fan_in)
               : s == InitScheme::Xavier ? std::sqrt(2.0 / (fan_in + fan_out))
                                         : 0.02;
  init_normal(p, float(std), seed);
}

void init_embedding(Parameter& p, InitScheme s, uint64_t seed) {
  init_normal(p, s == InitScheme::Normal ? 0.02f : 1.0f, seed);
}

}  // namespace peer
