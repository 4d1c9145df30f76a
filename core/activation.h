// Elementwise activations of the FFN layers (dense FFN, MoE experts, PEER experts).
#pragma once

#include <cstdint>
#include <string>

namespace peer {

enum class Activation { ReLU, GELU };
Activation parse_activation(const std::string& name);  // "relu" | "gelu"; throws otherwise
const char* activation_name(Activation a);             // its inverse

// y = act(x) elementwise. GELU is the exact erf form (PyTorch's default).
void activation_forward(Activation a, const float* x, float* y, int64_t n);
// dx = act'(x) * dy (dx may alias dy).
void activation_backward(Activation a, const float* x, const float* dy, float* dx, int64_t n);
float activation_value(Activation a, float x);
float activation_derivative(Activation a, float x);

}  // namespace peer
