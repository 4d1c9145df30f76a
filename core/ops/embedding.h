// Embedding table lookup and its gradient (the Embedding layer's math, core/nn/embedding.h).
#pragma once

#include "core/tensor.h"

namespace peer {

// y[i] = W[ids[i]].  W (num, dim), ids (n) I32 on W's device -> y (n, dim), resized onto W's
// device. Ids must lie in [0, num): the layer checks host ids; on CUDA an id outside gives a row of
// NaN (checking there would cost a host round trip), which the loss then shows.
void embedding_forward(const Tensor& W, const Tensor& ids, Tensor& y);
// dW[ids[i]] += dy[i] for i in order, so repeated ids accumulate in a fixed order on both
// devices. dy (n, dim), ids (n) I32, dW (num, dim); ids outside [0, num) are skipped on CUDA.
void embedding_backward(const Tensor& dy, const Tensor& ids, Tensor& dW);

namespace cuda {
void embedding_forward(const Tensor& W, const Tensor& ids, Tensor& y);
void embedding_backward(const Tensor& dy, const Tensor& ids, Tensor& dW);
}  // namespace cuda

}  // namespace peer
