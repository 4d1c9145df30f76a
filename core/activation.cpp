#include "core/activation.h"

#include <cmath>
#include <stdexcept>

namespace peer {

Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::ReLU;
  if (name == "gelu") return Activation::GELU;
  throw std::invalid_argument("[activation] unknown activation '" + name + "' (expected relu or gelu)");
}

const char* activation_name(Activation a) { return a == Activation::ReLU ? "relu" : "gelu"; }

float activation_value(Activation a, float x) {
  if (a == Activation::ReLU) return x > 0.0f ? x : 0.0f;
  return 0.5f * x * (1.0f + std::erf(x * float(M_SQRT1_2)));
}

float activation_derivative(Activation a, float x) {
  if (a == Activation::ReLU) return x > 0.0f ? 1.0f : 0.0f;
  float cdf = 0.5f * (1.0f + std::erf(x * float(M_SQRT1_2)));
  float pdf = float(0.5 * M_2_SQRTPI * M_SQRT1_2) * std::exp(-0.5f * x * x);
  return cdf + x * pdf;
}

void activation_forward(Activation a, const float* x, float* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) y[i] = activation_value(a, x[i]);
}

void activation_backward(Activation a, const float* x, const float* dy, float* dx, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 32768)
  for (int64_t i = 0; i < n; ++i) dx[i] = activation_derivative(a, x[i]) * dy[i];
}

}  // namespace peer
