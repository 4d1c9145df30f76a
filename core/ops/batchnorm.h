// BatchNorm over the rows of (N, F) (the op of core/nn/batchnorm.h). The per-feature and
// per-element math is batchnorm_math.h; ops/cuda/batchnorm.cu is the CUDA implementation.
// Tensors and parameter pointers are on x's (dy's) device.
#pragma once

#include "core/tensor.h"

namespace peer {

// BatchNorm's parameters and running statistics (F each), on the op's device; dweight, dbias
// null when the affine parameters are frozen.
struct BatchNormParams {
  const float* weight;
  const float* bias;
  float* running_mean;
  float* running_var;
  float* dweight;
  float* dbias;
  float eps, momentum;
};

// x (N, F) -> xhat (N, F), y = xhat * weight + bias (N, F), rstd (F). batch_stats: the batch's
// mean and biased variance, running statistics updated; otherwise the running statistics.
void batchnorm_forward(const Tensor& x, const BatchNormParams& p, bool batch_stats, Tensor& xhat, Tensor& y,
                       Tensor& rstd);

// Backward of a training forward (batch_stats as it ran): dy (N, F), xhat, rstd -> dx (N, F);
// dweight, dbias += .
void batchnorm_backward(const Tensor& dy, const Tensor& xhat, const Tensor& rstd, const BatchNormParams& p,
                        bool batch_stats, Tensor& dx);

namespace cuda {
void batchnorm_forward(const Tensor& x, const BatchNormParams& p, bool batch_stats, Tensor& xhat, Tensor& y,
                       Tensor& rstd);
void batchnorm_backward(const Tensor& dy, const Tensor& xhat, const Tensor& rstd, const BatchNormParams& p,
                        bool batch_stats, Tensor& dx);
}  // namespace cuda

}  // namespace peer
