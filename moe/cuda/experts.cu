// The expert MLPs' GEMMs on the GPU (moe/experts.h), each one launch for all experts, reading the
// plan's row counts on the device (no host round trip, no padding to a capacity: a dropless plan
// whose busiest expert takes every token costs no more than a balanced one). Our own FP32 tile
// GEMM (64 x 64 tiles, 16-deep K slices, a 4 x 4 block of outputs per thread) rather than cuBLAS:
// cuBLAS's grouped and batched GEMMs take their sizes from the host. Every output is one thread's
// sum in K order: deterministic, no split-K, no atomics.
//   row-grouped:  block per (tile of one expert's rows, 64 output columns): y[r] = x[r] op(W_e) (+ b_e)
//   weight grads: block per (64 x 64 tile of dW_e, expert e), summing over the expert's rows.
#include "core/cuda/check.h"
#include "core/ops/cuda/launch.cuh"
#include "moe/experts.h"

namespace peer::cuda {

namespace {

constexpr int kTile = 64, kSlice = 16, kGemmThreads = 256;  // 16 x 16 threads, 4 x 4 outputs each
static_assert(kTile == kPlanTileRows, "a row tile of the plan is a GEMM tile");

// A logical (rows, cols) matrix over row-major memory, read as zero outside: element (i, j) is
// p[i * ld + j], or p[j * ld + i] when transposed.
struct View {
  const float* p;
  int64_t ld, rows, cols;
  bool transposed;
  __device__ float at(int64_t i, int64_t j) const {
    if (i >= rows || j >= cols) return 0.0f;
    return transposed ? p[j * ld + i] : p[i * ld + j];
  }
};

// acc[i][j] = sum over kk < K of a(m, kk) b(kk, n), m = 4 ty + i, n = 4 tx + j (tx, ty: thread
// position in a 16 x 16 grid). Slices of a and b go through shared memory, each loaded along the
// direction that is contiguous in memory (coalesced reads).
__device__ void tile_product(const View& a, const View& b, int64_t K, float (&acc)[4][4]) {
  __shared__ float as[kSlice][kTile + 1];  // as[kk][m]
  __shared__ float bs[kSlice][kTile + 1];  // bs[kk][n]
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  for (int64_t k0 = 0; k0 < K; k0 += kSlice) {
    for (int idx = threadIdx.x; idx < kTile * kSlice; idx += kGemmThreads) {
      const int m = a.transposed ? idx % kTile : idx / kSlice, kk = a.transposed ? idx / kTile : idx % kSlice;
      as[kk][m] = a.at(m, k0 + kk);
      const int n = b.transposed ? idx / kSlice : idx % kTile, kb = b.transposed ? idx % kSlice : idx / kTile;
      bs[kb][n] = b.at(k0 + kb, n);
    }
    __syncthreads();
    for (int kk = 0; kk < kSlice; ++kk)
      for (int i = 0; i < 4; ++i)
        for (int j = 0; j < 4; ++j) acc[i][j] += as[kk][4 * ty + i] * bs[kk][4 * tx + j];
    __syncthreads();
  }
}

// y (rows, n) for the plan tile blockIdx.x (expert e, rows r0 .. min(r0 + 64, offsets[e+1])) and
// columns 64 blockIdx.y ..: x (rows, K) times W_e^T (W (E, n, K), transposed) or W_e (W (E, K, n)),
// plus b_e (b (E, n)) when b is given.
__global__ void grouped_rows_kernel(const int32_t* tiles, const int32_t* offsets, const float* x, int64_t K,
                                    const float* W, bool w_transposed, const float* b, int64_t n, float* y) {
  const int32_t e = tiles[2 * blockIdx.x];
  if (e < 0) return;  // the whole block: an unused tile slot
  const int64_t r0 = tiles[2 * blockIdx.x + 1], rows = min(int64_t(offsets[e + 1]), r0 + kTile) - r0;
  const int64_t j0 = int64_t(blockIdx.y) * kTile;
  const float* We = W + int64_t(e) * n * K;
  const View a{x + r0 * K, K, rows, K, false};
  const View w = w_transposed ? View{We + j0 * K, K, K, n - j0, true} : View{We + j0, n, K, n - j0, false};
  float acc[4][4] = {};
  tile_product(a, w, K, acc);
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const int64_t m = 4 * ty + i, c = j0 + 4 * tx + j;
      if (m < rows && c < n) y[(r0 + m) * n + c] = acc[i][j] + (b ? b[int64_t(e) * n + c] : 0.0f);
    }
}

// dW_e (M, n) += A_e^T B_e over expert e = blockIdx.z's rows: A (rows, M), B (rows, n); the tile of
// dW rows 64 blockIdx.y .. and columns 64 blockIdx.x ..
__global__ void weight_grad_kernel(const int32_t* offsets, const float* A, int64_t M, const float* B, int64_t n,
                                   float* dW) {
  const int64_t e = blockIdx.z, r0 = offsets[e], count = offsets[e + 1] - r0;
  const int64_t i0 = int64_t(blockIdx.y) * kTile, j0 = int64_t(blockIdx.x) * kTile;
  const View a{A + r0 * M + i0, M, M - i0, count, true};
  const View b{B + r0 * n + j0, n, count, n - j0, false};
  float acc[4][4] = {};
  tile_product(a, b, count, acc);
  float* dWe = dW + e * M * n;
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) {
      const int64_t r = i0 + 4 * ty + i, c = j0 + 4 * tx + j;
      if (r < M && c < n) dWe[r * n + c] += acc[i][j];
    }
}

// db_e (M) += column sums of A (rows, M) over expert e = blockIdx.y's rows, in row order.
__global__ void bias_grad_kernel(const int32_t* offsets, const float* A, int64_t M, float* db) {
  const int64_t e = blockIdx.y, j = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (j >= M) return;
  float s = 0.0f;
  for (int64_t r = offsets[e]; r < offsets[e + 1]; ++r) s += A[r * M + j];
  db[e * M + j] += s;
}

unsigned tiles_of(int64_t n) { return unsigned((n + kTile - 1) / kTile); }

void grouped_rows(const Tensor& x, const DispatchPlan& p, const Tensor& W, bool w_transposed, const float* b,
                  int64_t n, Tensor& y) {
  const int64_t K = x.dim(1);
  y.resize({x.dim(0), n}, Device::CUDA);
  if (x.dim(0) == 0 || n == 0) return;
  const dim3 grid(unsigned(p.tiles.dim(0)), tiles_of(n));
  grouped_rows_kernel<<<grid, kGemmThreads>>>(p.tiles.data_i32(), p.offsets.data_i32(), x.data(), K, W.data(),
                                              w_transposed, b, n, y.data());
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace

void grouped_linear(const Tensor& x, const DispatchPlan& p, const Tensor& W, const Tensor& b, Tensor& y) {
  grouped_rows(x, p, W, true, b.data(), W.dim(1), y);
}

void grouped_linear_input_grad(const Tensor& dy, const DispatchPlan& p, const Tensor& W, Tensor& dx) {
  grouped_rows(dy, p, W, false, nullptr, W.dim(2), dx);
}

void grouped_linear_weight_grad(const Tensor& dy, const Tensor& x, const DispatchPlan& p, Tensor& dW, Tensor& db) {
  const int64_t E = p.num_experts, out = dy.dim(1), in = x.dim(1);
  if (E == 0 || dy.dim(0) == 0) return;
  weight_grad_kernel<<<dim3(tiles_of(in), tiles_of(out), unsigned(E)), kGemmThreads>>>(
      p.offsets.data_i32(), dy.data(), out, x.data(), in, dW.data());
  PEER_CUDA_CHECK_LAUNCH();
  bias_grad_kernel<<<dim3(unsigned((out + kThreads - 1) / kThreads), unsigned(E)), kThreads>>>(
      p.offsets.data_i32(), dy.data(), out, db.data());
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
