// Decoder-only transformer language model: token + position embedding -> n_layer pre-LN blocks
// (causal self-attention, then an FFN slot) -> final LayerNorm -> lm head -> cross-entropy.
// The FFN slot of each block is an FfnSlot built by a factory the caller supplies, so this file
// knows nothing of experts.
#pragma once

#include <functional>
#include <memory>

#include "core/nn/attention.h"
#include "core/nn/embedding.h"
#include "core/nn/ffn_slot.h"
#include "core/nn/layernorm.h"
#include "core/nn/linear.h"

namespace peer {

struct TransformerShape {
  int64_t vocab_size = 0;
  int64_t n_embd = 128;
  int64_t n_head = 8;
  int64_t n_layer = 8;
  int64_t block_size = 32;
  float dropout = 0.1f;
  InitScheme init = InitScheme::Kaiming;
  uint64_t seed = 1337;
};

using FfnSlotFactory = std::function<std::unique_ptr<FfnSlot>(int64_t layer, const std::string& name)>;

class Block : public Module {
 public:
  Block(const TransformerShape& s, int64_t layer, std::unique_ptr<FfnSlot> ffn);
  const Tensor& forward(const Tensor& x, int64_t B, int64_t T, bool train, uint64_t step);
  const Tensor& backward(const Tensor& dy);
  void collect_parameters(std::vector<Parameter*>& out) override;

  LayerNorm ln1;
  CausalSelfAttention attn;
  LayerNorm ln2;
  std::unique_ptr<FfnSlot> ffn;

 private:
  Tensor mid_, out_;  // (N, C): x + attn(ln1(x)), mid + ffn(ln2(mid))
  Tensor dmid_, dx_;  // (N, C)
};

class LanguageModel : public Module {
 public:
  LanguageModel(const TransformerShape& s, const FfnSlotFactory& ffn);
  const TransformerShape& shape() const { return shape_; }

  // idx, targets: (B*T) token ids on the host. Leaves the mean cross-entropy (without aux losses)
  // in loss(), on the model's device: a training step on a GPU reads it only when it logs. When
  // training, keeps activations and the loss gradient for backward(). targets may be null
  // (logits only, e.g. sampling).
  void forward_on_device(const int32_t* idx, const int32_t* targets, int64_t B, int64_t T, bool train,
                         uint64_t step);
  // The same, returning the loss on the host (0 without targets); on a GPU this waits for it.
  double forward(const int32_t* idx, const int32_t* targets, int64_t B, int64_t T, bool train, uint64_t step);
  const Tensor& loss() const { return loss_; }  // (1) f64
  Device device() const { return wte.weight.value.device(); }
  // Backpropagates the last training forward's loss plus every FFN slot's aux loss.
  void backward();
  const Tensor& logits() const { return *logits_; }  // (B*T, vocab)
  double aux_loss() const;
  void stats(Stats& out) const;
  void reset_stats();
  void collect_parameters(std::vector<Parameter*>& out) override;

  Embedding wte, wpe;
  std::vector<std::unique_ptr<Block>> blocks;
  LayerNorm ln_f;
  Linear lm_head;

 private:
  TransformerShape shape_;
  int64_t B_ = 0, T_ = 0;
  std::vector<int32_t> pos_;
  Tensor x0_, dlogits_;
  Tensor targets_;           // (B*T) i32 on the model's device
  Tensor row_loss_, loss_;   // (B*T), (1) f64
  const Tensor* logits_ = nullptr;
};

}  // namespace peer
