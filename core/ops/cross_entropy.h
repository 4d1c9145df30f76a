// Softmax cross-entropy over the last dimension, mean over rows, and its gradient (the row math:
// core/ops/softmax_math.h). All tensors of one call live on one device, which picks the
// implementation; the loss stays there until someone reads it (on CUDA: no host round trip).
#pragma once

#include "core/tensor.h"

namespace peer {

// logits (N, V) f32; targets (N) i32, each in [0, V).
// row_loss (N) f64 out: logsumexp(z_i) - z_i[t_i].
// loss (1) f64 out: the mean of row_loss (CPU: summed in row order; CUDA: in a fixed tree order).
// dlogits (N, V) f32 out when not null: (softmax(z_i) - onehot(t_i)) * grad_scale / N.
// A target outside [0, V) throws on the CPU; on CUDA (which cannot throw without a round trip)
// it makes its row's loss, and so the mean, NaN, and its gradient row NaN.
void cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& row_loss, Tensor& loss, Tensor* dlogits,
                   float grad_scale);

namespace cuda {
void cross_entropy(const Tensor& logits, const Tensor& targets, Tensor& row_loss, Tensor& loss, Tensor* dlogits,
                   float grad_scale);
}  // namespace cuda

}  // namespace peer
