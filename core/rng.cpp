#include "core/rng.h"

#include <cmath>

namespace peer {

std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> c, std::array<uint32_t, 2> k) {
  constexpr uint32_t kM0 = 0xD2511F53u, kM1 = 0xCD9E8D57u;
  constexpr uint32_t kW0 = 0x9E3779B9u, kW1 = 0xBB67AE85u;
  for (int round = 0; round < 10; ++round) {
    uint64_t p0 = uint64_t(kM0) * c[0];
    uint64_t p1 = uint64_t(kM1) * c[2];
    c = {uint32_t(p1 >> 32) ^ c[1] ^ k[0], uint32_t(p1), uint32_t(p0 >> 32) ^ c[3] ^ k[1], uint32_t(p0)};
    k[0] += kW0;
    k[1] += kW1;
  }
  return c;
}

std::array<uint32_t, 4> Philox::block(uint64_t b) const {
  return philox4x32({uint32_t(b), uint32_t(b >> 32), uint32_t(stream_), uint32_t(stream_ >> 32)},
                    {uint32_t(seed_), uint32_t(seed_ >> 32)});
}

uint32_t Philox::bits(uint64_t offset) const { return block(offset >> 2)[offset & 3]; }

float Philox::uniform(uint64_t offset) const { return (bits(offset) >> 8) * (1.0f / 16777216.0f); }

std::array<float, 4> Philox::normal4(uint64_t b) const {
  auto r = block(b);
  std::array<float, 4> out;
  for (int p = 0; p < 2; ++p) {
    // u1 in (0, 1] so the log is finite.
    float u1 = ((r[2 * p] >> 8) + 1.0f) * (1.0f / 16777216.0f);
    float u2 = (r[2 * p + 1] >> 8) * (1.0f / 16777216.0f);
    float radius = std::sqrt(-2.0f * std::log(u1)), angle = float(2.0 * M_PI) * u2;
    out[2 * p] = radius * std::cos(angle);
    out[2 * p + 1] = radius * std::sin(angle);
  }
  return out;
}

float Philox::normal(uint64_t offset) const { return normal4(offset >> 2)[offset & 3]; }

uint64_t Philox::below(uint64_t n, uint64_t offset) const {
  uint64_t r = (uint64_t(bits(2 * offset)) << 32) | bits(2 * offset + 1);
  return r % n;
}

}  // namespace peer
