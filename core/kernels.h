// CPU kernels shared by layers: row-major GEMM (core/gemm.cpp) and elementwise activations.
#pragma once

#include <cstdint>
#include <string>

namespace peer {

// C (M, N) = alpha * op(A) * op(B) + beta * C, all row-major with leading dimensions.
// op(A) is (M, K): A is (M, K) or, with trans_a, (K, M). op(B) is (K, N): B is (K, N) or (N, K).
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

enum class Activation { ReLU, GELU };
Activation parse_activation(const std::string& name);  // "relu" | "gelu"; throws otherwise
std::string activation_name(Activation a);

// y = act(x) elementwise. GELU is the exact erf form (PyTorch's default).
void activation_forward(Activation a, const float* x, float* y, int64_t n);
// dx = act'(x) * dy (dx may alias dy).
void activation_backward(Activation a, const float* x, const float* dy, float* dx, int64_t n);
float activation_value(Activation a, float x);
float activation_derivative(Activation a, float x);

// out[j] += sum_i dy[i * ld + j] for j < cols: bias gradient of a (rows, cols) row-major
// gradient with leading dimension ld (rows in order, so the sums are deterministic).
void add_column_sums(const float* dy, int64_t rows, int64_t cols, int64_t ld, float* out);

}  // namespace peer
