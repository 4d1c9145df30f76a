#include "core/rng.h"

#include <algorithm>
#include <cmath>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

namespace peer {

std::array<uint32_t, 4> Philox::block(uint64_t b) const {
  const PhiloxWords r = philox_block(seed_, stream_, b);
  return {r.w[0], r.w[1], r.w[2], r.w[3]};
}

#if defined(__AVX2__)
namespace {
// High and low 32 bits of the 8 lane-wise products a * m (vpmuludq takes the even lanes).
void mul_hi_lo(__m256i a, __m256i m, __m256i& hi, __m256i& lo) {
  const __m256i even = _mm256_mul_epu32(a, m), odd = _mm256_mul_epu32(_mm256_srli_epi64(a, 32), m);
  hi = _mm256_blend_epi32(_mm256_srli_epi64(even, 32), odd, 0xAA);
  lo = _mm256_blend_epi32(even, _mm256_slli_epi64(odd, 32), 0xAA);
}
}  // namespace
#endif

void Philox::blocks(uint64_t first, int64_t count, uint32_t* out) const {
  int64_t b = 0;
#if defined(__AVX2__)
  const __m256i m0 = _mm256_set1_epi32(int(kPhiloxM0)), m1 = _mm256_set1_epi32(int(kPhiloxM1));
  for (; b + 8 <= count; b += 8) {
    alignas(32) uint32_t lo[8], hi[8], w[4][8];
    for (int l = 0; l < 8; ++l) {
      lo[l] = uint32_t(first + b + l);
      hi[l] = uint32_t((first + b + l) >> 32);
    }
    // c[w]: word w of the 8 blocks' counters, then of their outputs.
    __m256i c[4] = {_mm256_load_si256(reinterpret_cast<const __m256i*>(lo)),
                    _mm256_load_si256(reinterpret_cast<const __m256i*>(hi)),
                    _mm256_set1_epi32(int(uint32_t(stream_))), _mm256_set1_epi32(int(uint32_t(stream_ >> 32)))};
    uint32_t k0 = uint32_t(seed_), k1 = uint32_t(seed_ >> 32);
    for (int round = 0; round < 10; ++round) {
      __m256i hi0, lo0, hi1, lo1;
      mul_hi_lo(c[0], m0, hi0, lo0);
      mul_hi_lo(c[2], m1, hi1, lo1);
      c[0] = _mm256_xor_si256(_mm256_xor_si256(hi1, c[1]), _mm256_set1_epi32(int(k0)));
      c[1] = lo1;
      c[2] = _mm256_xor_si256(_mm256_xor_si256(hi0, c[3]), _mm256_set1_epi32(int(k1)));
      c[3] = lo0;
      k0 += kPhiloxW0;
      k1 += kPhiloxW1;
    }
    for (int word = 0; word < 4; ++word) _mm256_store_si256(reinterpret_cast<__m256i*>(w[word]), c[word]);
    for (int l = 0; l < 8; ++l)
      for (int word = 0; word < 4; ++word) out[4 * (b + l) + word] = w[word][l];
  }
#endif
  for (; b < count; ++b) {
    const std::array<uint32_t, 4> w = block(first + uint64_t(b));
    std::copy(w.begin(), w.end(), out + 4 * b);
  }
}

uint32_t Philox::bits(uint64_t offset) const { return block(offset >> 2)[offset & 3]; }

float Philox::uniform(uint64_t offset) const { return (bits(offset) >> 8) * (1.0f / 16777216.0f); }

std::array<float, 4> Philox::normal4(uint64_t b) const {
  std::array<float, 4> out;
  philox_normal4(philox_block(seed_, stream_, b), out.data());
  return out;
}

float Philox::normal(uint64_t offset) const { return normal4(offset >> 2)[offset & 3]; }

uint64_t Philox::below(uint64_t n, uint64_t offset) const {
  uint64_t r = (uint64_t(bits(2 * offset)) << 32) | bits(2 * offset + 1);
  return r % n;
}

}  // namespace peer
