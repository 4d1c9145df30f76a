// Softmax rows and softmax cross-entropy, on both backends. The row functions take a strided
// share of a row's elements (j = first, first + step, ... < n): the CPU passes the whole row
// (first 0, step 1), a CUDA thread its share of a block's row, whose partials the block then
// combines (the max exactly; the double sums in a fixed order).
#pragma once

#include <cmath>
#include <cstdint>

#include "core/host_device.h"

namespace peer {

// The largest of the row's elements in the share (-inf for an empty share).
PEER_HD float row_max(const float* z, int64_t first, int64_t n, int64_t step) {
  float mx = -INFINITY;
  for (int64_t j = first; j < n; j += step) mx = mx < z[j] ? z[j] : mx;
  return mx;
}

// sum of exp(z[j] - mx) over the share, in double.
PEER_HD double row_sum_exp(const float* z, int64_t first, int64_t n, int64_t step, float mx) {
  double sum = 0.0;
  for (int64_t j = first; j < n; j += step) sum += std::exp(double(z[j] - mx));
  return sum;
}

PEER_HD double log_sum_exp(float mx, double sum_exp) { return mx + std::log(sum_exp); }

// Cross-entropy of a row whose log-sum-exp is lse and whose target logit is z_target.
PEER_HD double cross_entropy_row_loss(double lse, float z_target) { return lse - z_target; }

// g[j] = softmax(z)[j] * scale over the share; the caller then subtracts scale at the target
// (d loss / d z = softmax - onehot, times scale = grad_scale / N).
PEER_HD void cross_entropy_row_grad(const float* z, float* g, int64_t first, int64_t n, int64_t step, double lse,
                                    float scale) {
  for (int64_t j = first; j < n; j += step) g[j] = float(std::exp(double(z[j]) - lse)) * scale;
}

// p = softmax(s * scale) of one row of n scores in float (attention's weights): max, then
// exp and sum in element order, then one multiply by the reciprocal.
PEER_HD void softmax_row(const float* s, float scale, int64_t n, float* p) {
  float mx = -INFINITY, sum = 0.0f;
  for (int64_t j = 0; j < n; ++j) mx = mx < s[j] * scale ? s[j] * scale : mx;
  for (int64_t j = 0; j < n; ++j) sum += (p[j] = std::exp(s[j] * scale - mx));
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < n; ++j) p[j] *= inv;
}

}  // namespace peer
