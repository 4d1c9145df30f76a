// LayerNorm of one row and its gradients, shared by the CPU loops (ops/layernorm.cpp) and the
// CUDA kernels (ops/cuda/layernorm.cu): see core/host_device.h. Sums run over the row in order.
#pragma once

#include <math.h>

#include <cstdint>

#include "core/host_device.h"

namespace peer {

// y = (x - mean) / sqrt(var + eps) * w + b over one row: x, y, w, b (d); keeps mean and rstd.
PEER_HD void layernorm_row_forward(const float* x, const float* w, const float* b, int64_t d, float eps, float* y,
                                   float& mean, float& rstd) {
  float m = 0.0f;
  for (int64_t j = 0; j < d; ++j) m += x[j];
  m /= d;
  float v = 0.0f;
  for (int64_t j = 0; j < d; ++j) v += (x[j] - m) * (x[j] - m);
  float rs = 1.0f / sqrtf(v / d + eps);
  for (int64_t j = 0; j < d; ++j) y[j] = (x[j] - m) * rs * w[j] + b[j];
  mean = m;
  rstd = rs;
}

// dx of one row: x, w, g (= dy), dx (d); mean, rstd from the forward.
PEER_HD void layernorm_row_backward(const float* x, const float* w, const float* g, int64_t d, float mean, float rstd,
                                    float* dx) {
  float mg = 0.0f, mgx = 0.0f;  // mean(g*w), mean(g*w*xhat)
  for (int64_t j = 0; j < d; ++j) {
    float xhat = (x[j] - mean) * rstd;
    mg += g[j] * w[j];
    mgx += g[j] * w[j] * xhat;
  }
  mg /= d;
  mgx /= d;
  for (int64_t j = 0; j < d; ++j) {
    float xhat = (x[j] - mean) * rstd;
    dx[j] = rstd * (g[j] * w[j] - mg - xhat * mgx);
  }
}

// One row's share of the parameter gradients of one column: x, g (= dy) its elements there.
// Both backends add the rows of a column in row order.
PEER_HD void layernorm_param_grad(float x, float g, float mean, float rstd, float& dw, float& db) {
  dw += (x - mean) * rstd * g;
  db += g;
}

}  // namespace peer
