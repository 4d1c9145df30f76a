// The core of causal multi-head self-attention (core/nn/attention.h, between its qkv and proj
// Linear layers): per head of each sequence, softmax(q k^T / sqrt(hs)) under a causal mask,
// dropout on those weights, and the weighted sum of v.
//
// qkv (B*T, 3C): row b*T + t holds q | k | v of position t of sequence b; head h owns columns
// h*hs .. h*hs + hs - 1 of each third (hs = C / H). Outputs are resized onto qkv's device.
#pragma once

#include "core/nn/dropout.h"
#include "core/tensor.h"

namespace peer {

// The weights' dropout: rule is drop.rule() after drop.start(train, step), null when nothing is
// dropped (evaluation, or p = 0). The CPU applies drop and keeps the mask there for backward;
// the CUDA kernels draw the same mask from rule (core/ops/dropout_math.h), so both devices drop
// the same weights.

// qkv (B*T, 3C) -> probs (B, H, T, T) softmax weights (zero above the diagonal), dropped
// (B, H, T, T) the weights after dropout (probs when rule is null), att (B*T, C) heads side by side.
void attention_forward(const Tensor& qkv, int64_t B, int64_t T, int64_t H, Dropout& drop, const DropoutRule* rule,
                       Tensor& probs, Tensor& dropped, Tensor& att);
// datt (B*T, C) -> dqkv (B*T, 3C), overwritten; dprobs (B, H, T, T) receives the score
// gradients. qkv, probs, dropped, drop and rule as at the forward.
void attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& dropped, const Tensor& datt, int64_t B,
                        int64_t T, int64_t H, const Dropout& drop, const DropoutRule* rule, Tensor& dprobs,
                        Tensor& dqkv);

namespace cuda {
// The backward draws the mask again from rule (for the score gradients) rather than keeping it.
void attention_forward(const Tensor& qkv, int64_t B, int64_t T, int64_t H, const DropoutRule* rule, Tensor& probs,
                       Tensor& dropped, Tensor& att);
void attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& dropped, const Tensor& datt, int64_t B,
                        int64_t T, int64_t H, const DropoutRule* rule, Tensor& dprobs, Tensor& dqkv);
}  // namespace cuda

}  // namespace peer
