// 8-float vectors (GCC/Clang vector extension) for hand-blocked inner loops: with -march=native
// on an AVX2 CPU each is one ymm register and `acc += a * x` one FMA; elsewhere the compiler
// uses pairs of SSE registers, computing the same function.
#pragma once

#include <cstring>

namespace peer {

using v8 = float __attribute__((vector_size(32)));

inline v8 load8(const float* p) {
  v8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

inline void store8(float* p, v8 v) { std::memcpy(p, &v, sizeof v); }

}  // namespace peer
