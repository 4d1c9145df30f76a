// The activations of one element, shared by the CPU loops (ops/activation.cpp, the PEER layer)
// and the CUDA kernels (ops/cuda/activation.cu): see core/host_device.h.
#pragma once

#include <math.h>

#include "core/host_device.h"

namespace peer {

enum class Activation { ReLU, GELU };

// GELU is the exact erf form (PyTorch's default).
PEER_HD float activation_value(Activation a, float x) {
  if (a == Activation::ReLU) return x > 0.0f ? x : 0.0f;
  return 0.5f * x * (1.0f + erff(x * float(M_SQRT1_2)));
}

PEER_HD float activation_derivative(Activation a, float x) {
  if (a == Activation::ReLU) return x > 0.0f ? 1.0f : 0.0f;
  float cdf = 0.5f * (1.0f + erff(x * float(M_SQRT1_2)));
  float pdf = float(0.5 * M_2_SQRTPI * M_SQRT1_2) * expf(-0.5f * x * x);
  return cdf + x * pdf;
}

}  // namespace peer
