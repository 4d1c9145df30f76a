// Softmax cross-entropy over the last dimension, mean over rows, with the targets on the host and
// the loss returned to the host. The op it calls (core/ops/cross_entropy.h) keeps the loss on the
// logits' device; this reads it back, so for CUDA logits each call is a host round trip (for
// evaluation and log steps; a training step on the GPU calls the op and reads `loss` when it logs).
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace peer {

// logits (N, V), targets (N) on the host. Returns the mean loss; when dlogits is given it is set
// to d(mean loss)/d(logits) = (softmax - onehot) / N, scaled by grad_scale, on the logits' device.
double cross_entropy(const Tensor& logits, const int32_t* targets, Tensor* dlogits, float grad_scale = 1.0f);

}  // namespace peer
