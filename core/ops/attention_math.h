// The attention softmax's per-element math, shared by the CPU loops (ops/attention.cpp) and the
// CUDA kernels (ops/cuda/attention.cu). The row reductions around it (max, sum, sum of p * dp)
// are each backend's own: sequential on the CPU, a fixed tree in a thread block on CUDA.
#pragma once

#include <math.h>

#include "core/host_device.h"

namespace peer {

// Unnormalised softmax weight of a raw score s (q . k) in a row whose largest scaled score is
// row_max: exp(s * scale - row_max), at most 1.
PEER_HD float attention_weight(float s, float scale, float row_max) { return expf(s * scale - row_max); }

// Gradient of a raw score from its weight p, the gradient dp of that weight and the row's sum of
// p * dp (softmax backward), times the scale the score was multiplied by.
PEER_HD float attention_score_grad(float p, float dp, float pdp, float scale) { return p * (dp - pdp) * scale; }

}  // namespace peer
