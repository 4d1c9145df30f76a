// cuBLAS behind core/gemm.h's row-major signature. A row-major (M, N) matrix is, read column-major,
// its (N, M) transpose, so C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T: the operands go
// to cuBLAS swapped, each with its own transpose flag, and nothing is copied.
//
// The handle (one per process, created on first use) is set for reproducible results:
// - default math mode: FP32 products and sums, no TF32 tensor cores. TF32
//   (CUBLAS_TF32_TENSOR_OP_MATH) would be an explicit opt-in; nothing opts in: it rounds the
//   inputs to 10-bit mantissas, far outside the CUDA-vs-CPU tolerances.
// - atomics not allowed, pointer mode host (alpha and beta are host floats: no device read), the
//   default stream (the one tensors use).
// - a workspace of our own (cublasSetWorkspace). cuBLAS gives bit-identical results run to run for
//   one architecture, SM count and toolkit while one stream is active; its internal workspace
//   choice is what multiple streams (or CUBLAS_WORKSPACE_CONFIG) can change, so with a fixed
//   workspace the results do not depend on that variable.
#include <climits>
#include <stdexcept>
#include <string>

#include "core/cuda/check.h"
#include "core/gemm.h"
#include "core/tensor.h"

namespace peer::cuda {

namespace {

constexpr size_t kWorkspaceBytes = size_t(32) << 20;  // cuBLAS's suggestion for Hopper
constexpr int kThreads = 256;
constexpr int64_t kRowsPerChunk = 64;  // column sums: rows summed by one thread in the first pass

// Handle and workspace live as long as the process: destroying them from a static destructor can
// run after the CUDA runtime has shut down; the driver frees both with the context.
cublasHandle_t handle() {
  static const cublasHandle_t h = [] {
    cublasHandle_t created = nullptr;
    PEER_CUBLAS_CHECK(cublasCreate(&created));
    PEER_CUBLAS_CHECK(cublasSetStream(created, 0));
    PEER_CUBLAS_CHECK(cublasSetPointerMode(created, CUBLAS_POINTER_MODE_HOST));
    PEER_CUBLAS_CHECK(cublasSetMathMode(created, CUBLAS_DEFAULT_MATH));
    PEER_CUBLAS_CHECK(cublasSetAtomicsMode(created, CUBLAS_ATOMICS_NOT_ALLOWED));
    void* workspace = nullptr;
    PEER_CUDA_CHECK(cudaMalloc(&workspace, kWorkspaceBytes));
    PEER_CUBLAS_CHECK(cublasSetWorkspace(created, workspace, kWorkspaceBytes));
    return created;
  }();
  return h;
}

int as_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX)
    throw std::invalid_argument(std::string("[gemm] ") + what + " = " + std::to_string(v) + " outside cuBLAS's int range");
  return int(v);
}

int blocks_for(int64_t n) { return int(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535)); }

// C (M, N) = beta * C, for K = 0 (as BLAS: C is not read when beta = 0).
__global__ void scale_kernel(float* C, int64_t M, int64_t N, int64_t ldc, float beta) {
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < M * N; e += int64_t(gridDim.x) * blockDim.x) {
    float* c = C + e / N * ldc + e % N;
    *c = beta == 0.0f ? 0.0f : beta * *c;
  }
}

// partial (chunks, cols): row c, column j = sum of dy's rows c*kRowsPerChunk .. in order.
__global__ void chunk_sums_kernel(const float* dy, int64_t rows, int64_t cols, int64_t ld, float* partial) {
  const int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (j >= cols) return;
  for (int64_t c = blockIdx.y; c * kRowsPerChunk < rows; c += gridDim.y) {
    const int64_t r1 = min(rows, (c + 1) * kRowsPerChunk);
    float s = 0.0f;
    for (int64_t r = c * kRowsPerChunk; r < r1; ++r) s += dy[r * ld + j];
    partial[c * cols + j] = s;
  }
}

// out[j] += sum over chunks c, in order, of partial[c, j].
__global__ void add_chunk_sums_kernel(const float* partial, int64_t chunks, int64_t cols, float* out) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < cols; j += int64_t(gridDim.x) * blockDim.x) {
    float s = 0.0f;
    for (int64_t c = 0; c < chunks; ++c) s += partial[c * cols + j];
    out[j] += s;
  }
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A,
          int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    scale_kernel<<<blocks_for(M * N), kThreads>>>(C, M, N, ldc, beta);
    PEER_CUDA_CHECK_LAUNCH();
    return;
  }
  PEER_CUBLAS_CHECK(cublasSgemm(handle(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N,
                                as_int(N, "N"), as_int(M, "M"), as_int(K, "K"), &alpha, B, as_int(ldb, "ldb"), A,
                                as_int(lda, "lda"), &beta, C, as_int(ldc, "ldc")));
}

// Two passes in a fixed order (chunks of rows, then the chunks' sums), so the sums are the same
// run after run without atomics; they differ from the CPU's row-by-row sums in rounding only.
void add_column_sums(const float* dy, int64_t rows, int64_t cols, int64_t ld, float* out) {
  if (rows == 0 || cols == 0) return;
  const int64_t chunks = (rows + kRowsPerChunk - 1) / kRowsPerChunk;
  Tensor partial({chunks, cols}, Device::CUDA);
  const dim3 grid(unsigned((cols + kThreads - 1) / kThreads), unsigned(std::min<int64_t>(chunks, 65535)));
  chunk_sums_kernel<<<grid, kThreads>>>(dy, rows, cols, ld, partial.data());
  PEER_CUDA_CHECK_LAUNCH();
  add_chunk_sums_kernel<<<blocks_for(cols), kThreads>>>(partial.data(), chunks, cols, out);
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
