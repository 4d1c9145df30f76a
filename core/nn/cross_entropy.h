// Softmax cross-entropy over the last dimension, mean over rows.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace peer {

// logits (N, V), targets (N). Returns the mean loss; when dlogits is given it is set to
// d(mean loss)/d(logits) = (softmax - onehot) / N, scaled by grad_scale.
double cross_entropy(const Tensor& logits, const int32_t* targets, Tensor* dlogits, float grad_scale = 1.0f);

}  // namespace peer
