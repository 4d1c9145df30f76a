// Philox4x32-10 (core/rng.h): known-answer vectors, purity in (seed, stream, offset), the
// moments of uniform and normal draws, and block() against blocks().
#include <catch2/catch.hpp>

#include <array>
#include <cmath>
#include <set>

#include "core/rng.h"

using namespace peer;

TEST_CASE("philox4x32: Random123 known-answer vectors (kat_vectors, Philox4x32-10)", "[rng]") {
  using Ctr = std::array<uint32_t, 4>;
  using Key = std::array<uint32_t, 2>;
  CHECK(philox4x32(Ctr{0, 0, 0, 0}, Key{0, 0}) == Ctr{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
  CHECK(philox4x32(Ctr{0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu}, Key{0xffffffffu, 0xffffffffu}) ==
        Ctr{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
  CHECK(philox4x32(Ctr{0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u}, Key{0xa4093822u, 0x299f31d0u}) ==
        Ctr{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("Philox: draws are a pure function of (seed, stream, offset)", "[rng]") {
  Philox a(42, 7), b(42, 7), other_seed(43, 7), other_stream(42, 8);
  int same_seed = 0, same_stream = 0;
  for (uint64_t off : {0ull, 1ull, 2ull, 3ull, 4ull, 1000ull, (1ull << 40) + 5}) {
    CHECK(a.bits(off) == b.bits(off));
    CHECK(a.uniform(off) == b.uniform(off));
    CHECK(a.normal(off) == b.normal(off));
    CHECK(a.below(97, off) == b.below(97, off));
    same_seed += a.bits(off) == other_seed.bits(off);
    same_stream += a.bits(off) == other_stream.bits(off);
  }
  CHECK(same_seed == 0);
  CHECK(same_stream == 0);
  // Order of evaluation does not matter (no hidden state).
  float later = a.uniform(12345);
  a.uniform(0);
  CHECK(a.uniform(12345) == later);
  // Neighbouring offsets give different words.
  std::set<uint32_t> words;
  for (uint64_t off = 0; off < 64; ++off) words.insert(a.bits(off));
  CHECK(words.size() == 64);
}

TEST_CASE("Philox: uniform and normal moments over 1e5 draws", "[rng]") {
  // Bounds are about 5 standard errors of the estimate: with n = 1e5 the standard error of a
  // uniform mean is 0.289/sqrt(n) = 9.1e-4, of its variance about 2.4e-4; of a standard normal
  // mean 3.2e-3 and of its variance sqrt(2/n) = 4.5e-3.
  const int64_t n = 100000;
  Philox rng(2024, 3);
  double su = 0, su2 = 0, sn = 0, sn2 = 0, sn4 = 0;
  float umin = 1, umax = 0;
  for (int64_t i = 0; i < n; ++i) {
    float u = rng.uniform(uint64_t(i));
    umin = std::min(umin, u);
    umax = std::max(umax, u);
    su += u;
    su2 += double(u) * u;
    double z = rng.normal(uint64_t(i));
    REQUIRE(std::isfinite(z));
    sn += z;
    sn2 += z * z;
    sn4 += z * z * z * z;
  }
  CHECK(umin >= 0.0f);
  CHECK(umax < 1.0f);
  const double mu = su / n, vu = su2 / n - mu * mu;
  CHECK(std::fabs(mu - 0.5) < 0.005);
  CHECK(std::fabs(vu - 1.0 / 12.0) < 0.0015);
  const double mn = sn / n, vn = sn2 / n - mn * mn;
  CHECK(std::fabs(mn) < 0.016);
  CHECK(std::fabs(vn - 1.0) < 0.025);
  CHECK(std::fabs(sn4 / n - 3.0) < 0.15);  // kurtosis of a normal (se ~ sqrt(96/n) = 0.031)

  // below(n): in range, every value reached, roughly uniform (each of 10 bins expects 1e4,
  // standard deviation ~95).
  std::vector<int64_t> count(10, 0);
  for (int64_t i = 0; i < n; ++i) {
    uint64_t v = rng.below(10, uint64_t(i));
    REQUIRE(v < 10);
    ++count[v];
  }
  for (int64_t c : count) CHECK(std::abs(c - 10000) < 500);
}

TEST_CASE("Philox::blocks equals block() one by one, across the 2^32 counter boundary", "[rng]") {
  const Philox rng(0x1234567890ULL, 99);
  for (uint64_t first : {uint64_t(0), uint64_t(5), (uint64_t(1) << 32) - 11}) {
    for (int64_t count : {1, 8, 21}) {  // from inside one 8-block group to two and a part
      std::vector<uint32_t> out(size_t(4 * count));
      rng.blocks(first, count, out.data());
      int64_t wrong = 0;
      for (int64_t b = 0; b < count; ++b) {
        const std::array<uint32_t, 4> w = rng.block(first + uint64_t(b));
        for (int k = 0; k < 4; ++k) wrong += out[size_t(4 * b + k)] != w[size_t(k)];
      }
      CAPTURE(first, count);
      CHECK(wrong == 0);
    }
  }
}
