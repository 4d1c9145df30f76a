// The Linear layer's math (core/nn/linear.h): y = x W^T + b and its gradients, on the inputs'
// device. Both backends run the same steps with core/gemm.h's GEMM of that device (our blocked
// GEMM on the CPU, cuBLAS on CUDA); only the bias broadcast has a CUDA kernel of its own
// (ops/cuda/linear.cu).
#pragma once

#include "core/tensor.h"

namespace peer {

// y = x W^T + b.  x (N, in), W (out, in), b (out) or empty (no bias) -> y (N, out), resized onto
// x's device. All inputs on one device.
void linear_forward(const Tensor& x, const Tensor& W, const Tensor& b, Tensor& y);
// dx = dy W; also dW += dy^T x when dW is given and db += the column sums of dy when db is given
// (parameter gradients accumulate, the input gradient is overwritten).
// dy (N, out), x (N, in), W (out, in), dW (out, in) or null, db (out) or null -> dx (N, in).
void linear_backward(const Tensor& dy, const Tensor& x, const Tensor& W, Tensor* dW, Tensor* db, Tensor& dx);

namespace cuda {
// y (N, out) = b (out) in every row.
void broadcast_rows(const Tensor& b, Tensor& y);
}  // namespace cuda

}  // namespace peer
