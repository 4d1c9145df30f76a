// Elementwise sum of two tensors of one shape (the transformer's residual connections).
#pragma once

#include "core/tensor.h"

namespace peer {

// out = a + b.  a, b (any shape, the same numel, one device) -> out (a's shape), resized onto a's
// device. out may be a or b.
void add(const Tensor& a, const Tensor& b, Tensor& out);

namespace cuda {
void add(const Tensor& a, const Tensor& b, Tensor& out);
}  // namespace cuda

}  // namespace peer
