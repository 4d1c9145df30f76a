#include "core/ops/activation.h"

#include <stdexcept>

namespace peer {

Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::ReLU;
  if (name == "gelu") return Activation::GELU;
  throw std::invalid_argument("[activation] unknown activation '" + name + "' (expected relu or gelu)");
}

const char* activation_name(Activation a) { return a == Activation::ReLU ? "relu" : "gelu"; }

void activation_forward(Activation a, const float* x, float* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) y[i] = activation_value(a, x[i]);
}

void activation_backward(Activation a, const float* x, const float* dy, float* dx, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) dx[i] = activation_derivative(a, x[i]) * dy[i];
}

void activation_forward(Activation a, const Tensor& x, Tensor& y) {
  y.resize(x.shape(), x.device());
  if (x.device() == Device::CUDA) return cuda::activation_forward(a, x.data(), y.data(), x.numel());
  activation_forward(a, x.data(), y.data(), x.numel());
}

void activation_backward(Activation a, const Tensor& x, const Tensor& dy, Tensor& dx) {
  if (dy.shape() != x.shape() || dy.device() != x.device())
    throw std::invalid_argument("[activation_backward] dy " + dy.shape_str() + " does not match x " + x.shape_str());
  if (&dx != &dy) dx.resize(x.shape(), x.device());
  if (x.device() == Device::CUDA) return cuda::activation_backward(a, x.data(), dy.data(), dx.data(), x.numel());
  activation_backward(a, x.data(), dy.data(), dx.data(), x.numel());
}

}  // namespace peer
