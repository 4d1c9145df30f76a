// Counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
// Every draw is a pure function of (seed, stream, offset): no hidden state, so any draw can be
// reproduced on any thread or device, and a resumed run only needs the step number.
#pragma once

#include <array>
#include <cstdint>

#include "core/ops/philox_math.h"

namespace peer {

// The block function of core/ops/philox_math.h (the one the CUDA kernels run), on arrays.
inline std::array<uint32_t, 4> philox4x32(std::array<uint32_t, 4> counter, std::array<uint32_t, 2> key) {
  const PhiloxWords r = philox4x32_10({{counter[0], counter[1], counter[2], counter[3]}}, key[0], key[1]);
  return {r.w[0], r.w[1], r.w[2], r.w[3]};
}

class Philox {
 public:
  Philox(uint64_t seed, uint64_t stream) : seed_(seed), stream_(stream) {}
  uint32_t bits(uint64_t offset) const;  // word offset % 4 of block offset / 4
  std::array<uint32_t, 4> block(uint64_t b) const;  // the 4 words at offsets 4b .. 4b+3
  // Blocks first .. first+count-1, block b's words at out[4 (b - first) ..]: the same words as
  // block(), 8 blocks at a time in AVX2 registers where the CPU has them.
  void blocks(uint64_t first, int64_t count, uint32_t* out) const;
  // Uniform in [0, 1), 24 bits of mantissa.
  float uniform(uint64_t offset) const;
  // Standard normal: Box-Muller on Philox block offset / 4, whose 4 words give 2 pairs of
  // uniforms and so 4 normals (cos and sin of each pair).
  float normal(uint64_t offset) const;
  // The 4 normals of block b (offsets 4b .. 4b+3), at the cost of one Philox evaluation.
  std::array<float, 4> normal4(uint64_t block) const;
  // Uniform integer in [0, n) from 64 random bits (bias < 2^-32 for n < 2^32).
  uint64_t below(uint64_t n, uint64_t offset) const;

 private:
  uint64_t seed_, stream_;
};

// Named streams so that independent consumers never share draws. Per-layer consumers (dropout
// sites, router noise) use kStreamLayer + 16 * layer + site, above every named stream.
enum RngStream : uint64_t {
  kStreamInit = 1,
  kStreamData = 2,
  kStreamEvalTrain = 3,
  kStreamEvalVal = 4,
  kStreamSample = 5,
  kStreamShuffle = 6,  // orders of data windows (the joint lifelong stream)
  kStreamReplay = 7,   // replayed windows of a lifelong stream
  kStreamLayer = 1 << 16,
};

}  // namespace peer
