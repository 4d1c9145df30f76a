// CUDA implementation of ops/layernorm.h. A thread takes a whole row and runs the CPU's row
// function (layernorm_math.h), so both backends sum a row in the same order; a thread takes a
// whole column of dw, db and adds the rows in order, as the CPU does: no atomics, the same bits
// run after run. Rows are short (d_model), so a thread per row is enough for the model sizes
// here; a row split across a warp would need its own summation order.
#include "core/ops/cuda/launch.cuh"
#include "core/ops/layernorm.h"
#include "core/ops/layernorm_math.h"

namespace peer::cuda {

namespace {
__global__ void forward_kernel(const float* x, const float* w, const float* b, int64_t n, int64_t d, float eps,
                               float* y, float* mean, float* rstd) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    layernorm_row_forward(x + i * d, w, b, d, eps, y + i * d, mean[i], rstd[i]);
}

__global__ void dx_kernel(const float* x, const float* w, const float* mean, const float* rstd, const float* dy,
                          int64_t n, int64_t d, float* dx) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    layernorm_row_backward(x + i * d, w, dy + i * d, d, mean[i], rstd[i], dx + i * d);
}

// Adjacent threads take adjacent columns, so each row's reads are coalesced.
__global__ void param_grad_kernel(const float* x, const float* mean, const float* rstd, const float* dy, int64_t n,
                                  int64_t d, float* dw, float* db) {
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < d; j += int64_t(gridDim.x) * blockDim.x) {
    float w_sum = dw[j], b_sum = db[j];
    for (int64_t i = 0; i < n; ++i) layernorm_param_grad(x[i * d + j], dy[i * d + j], mean[i], rstd[i], w_sum, b_sum);
    dw[j] = w_sum;
    db[j] = b_sum;
  }
}

// Rows (tokens) and columns (d_model) number hundreds to thousands: small blocks spread them
// over more SMs.
constexpr int kSmallBlock = 64;
}  // namespace

void layernorm_forward(const float* x, const float* w, const float* b, int64_t n, int64_t d, float eps, float* y,
                       float* mean, float* rstd) {
  if (n == 0) return;
  forward_kernel<<<grid_size(n, kSmallBlock), kSmallBlock>>>(x, w, b, n, d, eps, y, mean, rstd);
  PEER_CUDA_CHECK_LAUNCH();
}

void layernorm_backward(const float* x, const float* w, const float* mean, const float* rstd, const float* dy,
                        int64_t n, int64_t d, float* dx, float* dw, float* db) {
  if (n == 0) return;
  if (dw) {
    param_grad_kernel<<<grid_size(d, kSmallBlock), kSmallBlock>>>(x, mean, rstd, dy, n, d, dw, db);
    PEER_CUDA_CHECK_LAUNCH();
  }
  dx_kernel<<<grid_size(n, kSmallBlock), kSmallBlock>>>(x, w, mean, rstd, dy, n, d, dx);
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
