// Philox4x32-10 (Salmon et al. 2011), the block function every random draw comes from, on both
// backends: a CUDA kernel that evaluates block b of (seed, stream) gets the words the CPU gets.
// core/rng.h builds the CPU API on it (Philox::blocks evaluates 8 blocks at a time with AVX2 and
// is tested to give these same words).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/host_device.h"

namespace peer {

// Round multipliers and Weyl key increments.
constexpr uint32_t kPhiloxM0 = 0xD2511F53u, kPhiloxM1 = 0xCD9E8D57u;
constexpr uint32_t kPhiloxW0 = 0x9E3779B9u, kPhiloxW1 = 0xBB67AE85u;

struct PhiloxWords {
  uint32_t w[4];
};

// Ten rounds on the counter c under the key (k0, k1).
PEER_HD PhiloxWords philox4x32_10(PhiloxWords c, uint32_t k0, uint32_t k1) {
  for (int round = 0; round < 10; ++round) {
    const uint64_t p0 = uint64_t(kPhiloxM0) * c.w[0];
    const uint64_t p1 = uint64_t(kPhiloxM1) * c.w[2];
    c = {{uint32_t(p1 >> 32) ^ c.w[1] ^ k0, uint32_t(p1), uint32_t(p0 >> 32) ^ c.w[3] ^ k1, uint32_t(p0)}};
    k0 += kPhiloxW0;
    k1 += kPhiloxW1;
  }
  return c;
}

// Block b of stream `stream` under `seed`: the counter is (b, stream), the key the seed. Its
// words are the draws at offsets 4b .. 4b+3.
PEER_HD PhiloxWords philox_block(uint64_t seed, uint64_t stream, uint64_t b) {
  return philox4x32_10({{uint32_t(b), uint32_t(b >> 32), uint32_t(stream), uint32_t(stream >> 32)}},
                       uint32_t(seed), uint32_t(seed >> 32));
}

// The 4 standard normals of one block's words r (Philox::normal4, and the MoE router's noise on a
// GPU): Box-Muller on its two pairs of 24-bit uniforms, u1 in (0, 1] so the log is finite.
PEER_HD void philox_normal4(const PhiloxWords& r, float out[4]) {
  for (int p = 0; p < 2; ++p) {
    const float u1 = ((r.w[2 * p] >> 8) + 1.0f) * (1.0f / 16777216.0f);
    const float u2 = (r.w[2 * p + 1] >> 8) * (1.0f / 16777216.0f);
    const float radius = std::sqrt(-2.0f * std::log(u1)), angle = float(2.0 * M_PI) * u2;
    out[2 * p] = radius * std::cos(angle);
    out[2 * p + 1] = radius * std::sin(angle);
  }
}

}  // namespace peer
