// The core of causal multi-head self-attention (core/nn/attention.h, between its qkv and proj
// Linear layers): per head of each sequence, softmax(q k^T / sqrt(hs)) under a causal mask,
// dropout on those weights, and the weighted sum of v.
//
// qkv (B*T, 3C): row b*T + t holds q | k | v of position t of sequence b; head h owns columns
// h*hs .. h*hs + hs - 1 of each third (hs = C / H). Outputs are resized onto qkv's device.
#pragma once

#include "core/ops/dropout_math.h"
#include "core/tensor.h"

namespace peer {

// The weights' dropout: rule, null when nothing is dropped (evaluation, or p = 0). Both devices
// draw the same mask from it (core/ops/dropout_math.h). The CPU keeps each weight's factor in
// mask (B, H, T, T) for backward; the CUDA kernels leave mask alone and draw the factors again.

// qkv (B*T, 3C) -> probs (B, H, T, T) softmax weights (zero above the diagonal), dropped
// (B, H, T, T) the weights after dropout (probs when rule is null), att (B*T, C) heads side by side.
void attention_forward(const Tensor& qkv, int64_t B, int64_t T, int64_t H, const DropoutRule* rule, Tensor& mask,
                       Tensor& probs, Tensor& dropped, Tensor& att);
// datt (B*T, C) -> dqkv (B*T, 3C), overwritten; dprobs (B, H, T, T) receives the score
// gradients. qkv, probs, dropped, rule and mask as at the forward.
void attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& dropped, const DropoutRule* rule,
                        const Tensor& mask, const Tensor& datt, int64_t B, int64_t T, int64_t H, Tensor& dprobs,
                        Tensor& dqkv);

namespace cuda {
// The backward draws the mask again from rule (for the score gradients) rather than keeping it.
void attention_forward(const Tensor& qkv, int64_t B, int64_t T, int64_t H, const DropoutRule* rule, Tensor& probs,
                       Tensor& dropped, Tensor& att);
void attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& dropped, const Tensor& datt, int64_t B,
                        int64_t T, int64_t H, const DropoutRule* rule, Tensor& dprobs, Tensor& dqkv);
}  // namespace cuda

}  // namespace peer
