// Row-major matrix products and the column sums that give the bias gradients beside them: on the
// CPU (core/gemm.cpp) and, with the same signatures over device pointers, on CUDA (core/cuda/gemm.cu,
// cuBLAS).
#pragma once

#include <cstdint>

namespace peer {

// C (M, N) = alpha * op(A) * op(B) + beta * C, all row-major with leading dimensions.
// op(A) is (M, K): A is (M, K) or, with trans_a, (K, M). op(B) is (K, N): B is (K, N) or (N, K).
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);

// out[j] += sum_i dy[i * ld + j] for j < cols: bias gradient of a (rows, cols) row-major
// gradient with leading dimension ld (rows in order, so the sums are deterministic).
void add_column_sums(const float* dy, int64_t rows, int64_t cols, int64_t ld, float* out);

namespace cuda {
// The same on device pointers, on the stream tensors use; deterministic run to run (one stream,
// a workspace of our own, fixed reduction orders), not bit-equal to the CPU's.
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc);
void add_column_sums(const float* dy, int64_t rows, int64_t cols, int64_t ld, float* out);
}  // namespace cuda

}  // namespace peer
