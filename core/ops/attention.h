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

// qkv (B*T, 3C) -> probs (B, H, T, T) softmax weights (zero above the diagonal), dropped
// (B, H, T, T) the weights after drop's dropout at this step, att (B*T, C) heads side by side.
// On CUDA: no dropout (the caller refuses it until Dropout has a device path); dropped is not
// written, the weights are probs.
void attention_forward(const Tensor& qkv, int64_t B, int64_t T, int64_t H, Dropout& drop, bool train, uint64_t step,
                       Tensor& probs, Tensor& dropped, Tensor& att);
// datt (B*T, C) -> dqkv (B*T, 3C), overwritten; dprobs (B, H, T, T) receives the score
// gradients. qkv, probs, dropped and drop as left by the forward.
void attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& dropped, const Tensor& datt, int64_t B,
                        int64_t T, int64_t H, const Dropout& drop, Tensor& dprobs, Tensor& dqkv);

namespace cuda {
// Without dropout: the weights that weigh v are probs.
void attention_forward(const Tensor& qkv, int64_t B, int64_t T, int64_t H, Tensor& probs, Tensor& att);
void attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& datt, int64_t B, int64_t T, int64_t H,
                        Tensor& dprobs, Tensor& dqkv);
}  // namespace cuda

}  // namespace peer
