// BatchNorm's per-feature and per-element math, shared by the CPU loops (ops/batchnorm.cpp) and
// the CUDA kernels (ops/cuda/batchnorm.cu): see core/host_device.h. Feature statistics are sums
// in double over the rows (the CPU in row order, the GPU a fixed tree).
#pragma once

#include <math.h>

#include <cstdint>

#include "core/host_device.h"

namespace peer {

// 1 / sqrt(var + eps) of a feature whose (biased) variance is var.
PEER_HD float batchnorm_rstd(double var, float eps) { return float(1.0 / sqrt(var + eps)); }

// The running statistics after a training batch of n rows with mean and sum of squared
// deviations ss: momentum update, unbiased variance (PyTorch's BatchNorm1d).
PEER_HD void batchnorm_running(float& running_mean, float& running_var, double mean, double ss, int64_t n,
                               float momentum) {
  running_mean = float((1 - momentum) * running_mean + momentum * mean);
  running_var = float((1 - momentum) * running_var + momentum * ss / double(n - 1));
}

PEER_HD float batchnorm_xhat(float x, double mean, float rstd) { return float(x - mean) * rstd; }

// dx of one element from the feature's sums of dy and of dy * xhat over the n rows. With fixed
// (running) statistics (batch_stats false) the normalisation does not depend on x: only the scale.
PEER_HD float batchnorm_dx(float dy, float xhat, float weight, float rstd, double sum_g, double sum_gx, int64_t n,
                           bool batch_stats) {
  return weight * rstd * (batch_stats ? float(dy - sum_g / double(n) - xhat * sum_gx / double(n)) : dy);
}

}  // namespace peer
