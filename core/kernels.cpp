#include "core/kernels.h"

#include <Eigen/Core>
#include <cmath>
#include <stdexcept>

namespace peer {

namespace {
using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;
using MutMap = Eigen::Map<RowMat, Eigen::Unaligned, Eigen::OuterStride<>>;

template <class Op>
void assign(MutMap& c, const Op& product, float alpha, float beta) {
  if (beta == 0.0f) {
    c.noalias() = alpha * product;
  } else {
    if (beta != 1.0f) c *= beta;
    c.noalias() += alpha * product;
  }
}
}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  MutMap c(C, M, N, Eigen::OuterStride<>(ldc));
  if (K == 0) {
    if (beta == 0.0f) c.setZero();  // as BLAS: C is not read when beta = 0
    else c *= beta;
    return;
  }
  ConstMap a(A, trans_a ? K : M, trans_a ? M : K, Eigen::OuterStride<>(lda));
  ConstMap b(B, trans_b ? N : K, trans_b ? K : N, Eigen::OuterStride<>(ldb));
  if (!trans_a && !trans_b) assign(c, a * b, alpha, beta);
  else if (!trans_a && trans_b) assign(c, a * b.transpose(), alpha, beta);
  else if (trans_a && !trans_b) assign(c, a.transpose() * b, alpha, beta);
  else assign(c, a.transpose() * b.transpose(), alpha, beta);
}

Activation parse_activation(const std::string& name) {
  if (name == "relu") return Activation::ReLU;
  if (name == "gelu") return Activation::GELU;
  throw std::invalid_argument("[activation] unknown activation '" + name + "' (expected relu or gelu)");
}

std::string activation_name(Activation a) { return a == Activation::ReLU ? "relu" : "gelu"; }

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

void add_column_sums(const float* dy, int64_t rows, int64_t cols, float* out) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* r = dy + i * cols;
    for (int64_t j = 0; j < cols; ++j) out[j] += r[j];
  }
}

}  // namespace peer
