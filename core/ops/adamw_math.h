// The AdamW update of one element, shared by the CPU loops (ops/adamw.cpp: dense parameters and
// row-sparse rows in both modes) and the CUDA kernels (ops/cuda/adamw.cu): see
// core/host_device.h.
#pragma once

#include <math.h>

#include <cstdint>

#include "core/host_device.h"

namespace peer {

// One step's constants; c1 = 1 / (1 - beta1^t), c2 = 1 / (1 - beta2^t) are the bias corrections.
struct AdamWStep {
  float lr, beta1, beta2, c1, c2, eps;
};

// a * b + c, fused where the CPU build has FMA (and on the GPU). In a * b + c * d compilers
// fuse one of the two products into an FMA, and which one GCC picks depends on the code around
// the inlined function: naming it keeps the bits the same at every call site and on the GPU.
PEER_HD float fused_mul_add(float a, float b, float c) {
#if defined(__CUDA_ARCH__) || defined(__FMA__)
  return fmaf(a, b, c);
#else
  return a * b + c;
#endif
}

// g = 0 for a row without a gradient (row-sparse dense mode); wd: this parameter's weight decay.
PEER_HD void adamw_element(float& w, float& m, float& v, float g, float wd, AdamWStep s) {
  m = fused_mul_add(s.beta1, m, (1.0f - s.beta1) * g);
  v = fused_mul_add(s.beta2, v, (1.0f - s.beta2) * g * g);
  w -= s.lr * (m * s.c1 / (sqrtf(v * s.c2) + s.eps) + wd * w);
}

// Where row r is in the sorted unique list rows (k), or -1: pairs a row with its gradient row.
PEER_HD int64_t find_sorted_row(const int32_t* rows, int64_t k, int32_t r) {
  int64_t lo = 0, hi = k;  // the first index whose row is >= r lies in [lo, hi]
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (rows[mid] < r) lo = mid + 1;
    else hi = mid;
  }
  return lo < k && rows[lo] == r ? lo : -1;
}

}  // namespace peer
