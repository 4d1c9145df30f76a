// Elementwise activations of the FFN layers (dense FFN, MoE experts, PEER experts). The math of
// one element is in activation_math.h; ops/cuda/activation.cu is the CUDA implementation.
#pragma once

#include <cstdint>
#include <string>

#include "core/ops/activation_math.h"
#include "core/tensor.h"

namespace peer {

Activation parse_activation(const std::string& name);  // "relu" | "gelu"; throws otherwise
const char* activation_name(Activation a);             // its inverse

// y = act(x) elementwise; x (any shape), y resized to x's shape on x's device.
void activation_forward(Activation a, const Tensor& x, Tensor& y);
// dx = act'(x) * dy; x, dy (same shape), dx resized to it on x's device (dx may be dy).
void activation_backward(Activation a, const Tensor& x, const Tensor& dy, Tensor& dx);

// The CPU implementation on host memory, also for callers that work on row ranges of a tensor:
// x, y, dy, dx (n); dx may alias dy.
void activation_forward(Activation a, const float* x, float* y, int64_t n);
void activation_backward(Activation a, const float* x, const float* dy, float* dx, int64_t n);

namespace cuda {
// The same on device memory.
void activation_forward(Activation a, const float* x, float* y, int64_t n);
void activation_backward(Activation a, const float* x, const float* dy, float* dx, int64_t n);
}  // namespace cuda

}  // namespace peer
