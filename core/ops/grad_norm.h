// Gradient norm and clipping over all of a model's gradients (the op of clip_grad_norm in
// core/optim/adamw.h). ops/cuda/grad_norm.cu is the CUDA implementation.
#pragma once

#include <cstdint>
#include <vector>

#include "core/tensor.h"

namespace peer {

// n gradient elements at g.
struct GradSpan {
  float* g;
  int64_t n;
};

// Both scale the spans (all on device d) in place so that their joint L2 norm is at most
// max_norm (not at all when max_norm <= 0 or the norm is within it), and give the norm before
// clipping. Sums of squares run in double, in a fixed order for given sizes (not the same order
// on both backends).
//   this one returns it: on CUDA that waits for the GPU (the norm comes to the host);
double clip_grad_norm(Device d, const std::vector<GradSpan>& grads, double max_norm);
//   this one leaves it in norm ((1), f32, resized on device d) and does not wait.
void clip_grad_norm(Device d, const std::vector<GradSpan>& grads, double max_norm, Tensor& norm);

namespace cuda {
// On device memory, the norm to norm_out (one float on the device); the clipping scale is
// computed and applied on the device.
void clip_grad_norm(const std::vector<GradSpan>& grads, double max_norm, float* norm_out);
}  // namespace cuda

}  // namespace peer
