// Inverted dropout with the counter-based mask of core/ops/dropout_math.h. All tensors of one
// call live on one device, which picks the implementation.
#pragma once

#include <cstdint>

#include "core/ops/dropout_math.h"
#include "core/tensor.h"

namespace peer {

// x (n), y (n) out, mask (n) out: mask[i] = dropout_factor of element i, y = x * mask. y may be
// x (in place). A dropped element is x * 0, so NaN and Inf stay visible.
void dropout_forward(const Tensor& x, Tensor& y, Tensor& mask, const DropoutRule& rule);
// dy (n), mask (n), dx (n) out: dx = dy * mask. dx may be dy.
void dropout_backward(const Tensor& dy, const Tensor& mask, Tensor& dx);

// CPU, for layers that apply dropout from inside their own parallel loops: elements
// first .. first + count - 1 of dropout_forward / dropout_backward, with x, y, mask, dy and dx
// pointing at element `first`.
void dropout_forward_range(const float* x, float* y, float* mask, int64_t first, int64_t count,
                           const DropoutRule& rule);
void dropout_backward_range(const float* dy, const float* mask, float* dx, int64_t count);

namespace cuda {
void dropout_forward(const Tensor& x, Tensor& y, Tensor& mask, const DropoutRule& rule);
void dropout_backward(const Tensor& dy, const Tensor& mask, Tensor& dx);
}  // namespace cuda

}  // namespace peer
