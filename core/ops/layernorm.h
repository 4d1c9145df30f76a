// Layer normalisation over the last dimension of rows (the op of core/nn/layernorm.h). The math
// of a row is in layernorm_math.h; ops/cuda/layernorm.cu is the CUDA implementation.
#pragma once

#include <cstdint>

#include "core/tensor.h"

namespace peer {

// x (N, D); w, b (D) -> y (N, D); mean, rstd (N). Outputs are resized on x's device.
void layernorm_forward(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y, Tensor& mean,
                       Tensor& rstd);
// x (N, D), w (D), mean, rstd (N) from the forward, dy (N, D) -> dx (N, D) (=), resized on x's
// device; dw, db (D) += unless dw is null (frozen parameters). Each column of dw, db adds its
// rows in row order, on either backend.
void layernorm_backward(const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd, const Tensor& dy,
                        Tensor& dx, Tensor* dw, Tensor* db);

namespace cuda {
// The same on device memory: x, y, dy, dx (n, d); w, b, dw, db (d); mean, rstd (n); dw null: none.
void layernorm_forward(const float* x, const float* w, const float* b, int64_t n, int64_t d, float eps, float* y,
                       float* mean, float* rstd);
void layernorm_backward(const float* x, const float* w, const float* mean, const float* rstd, const float* dy,
                        int64_t n, int64_t d, float* dx, float* dw, float* db);
}  // namespace cuda

}  // namespace peer
