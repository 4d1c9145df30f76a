// Causal multi-head self-attention: qkv = x Wqkv^T (no bias), per head softmax(q k^T / sqrt(hs))
// with a causal mask and dropout on the attention weights (core/ops/attention.h), concat heads,
// proj (with bias), dropout. On CUDA (parameters moved by Module::to, input on the device) the same
// masks as on the CPU.
#pragma once


#include "core/module.h"
#include "core/nn/dropout.h"
#include "core/nn/linear.h"

namespace peer {

class CausalSelfAttention : public Module {
 public:
  CausalSelfAttention(const std::string& name, int64_t n_embd, int64_t n_head, float dropout, uint64_t seed,
                      uint64_t stream);
  void init(InitScheme s, uint64_t seed);
  // x (B*T, C) -> y (B*T, C); rows ordered batch-major.
  const Tensor& forward(const Tensor& x, int64_t B, int64_t T, bool train, uint64_t step);
  const Tensor& backward(const Tensor& dy);
  void collect_parameters(std::vector<Parameter*>& out) override;

  Linear qkv, proj;

 private:
  int64_t C_, H_, B_ = 0, T_ = 0;
  Dropout attn_drop_, resid_drop_;
  const Tensor* qkv_out_ = nullptr;  // (B*T, 3C), owned by qkv
  Tensor probs_;     // (B, H, T, T) softmax weights (upper triangle zero)
  Tensor dropped_;   // (B, H, T, T) weights after dropout
  Tensor attn_mask_;  // (B, H, T, T) their dropout factors (CPU)
  Tensor att_;       // (B*T, C) concatenated head outputs
  Tensor y_;         // (B*T, C) after the output dropout (CPU; on CUDA the output is proj's)
  Tensor dtmp_;      // (B*T, C) gradient after the output dropout (CPU)
  Tensor dqkv_;      // (B*T, 3C)
  Tensor dprobs_;    // (B, H, T, T)
};

}  // namespace peer
