#include "core/nn/transformer.h"

#include <stdexcept>

#include "core/ops/cross_entropy.h"
#include "core/ops/add.h"
#include "core/rng.h"

namespace peer {

namespace {
std::string block_name(int64_t layer) { return "blocks." + std::to_string(layer); }
}  // namespace

Block::Block(const TransformerShape& s, int64_t layer, std::unique_ptr<FfnSlot> f)
    : ln1(block_name(layer) + ".ln1", s.n_embd),
      attn(block_name(layer) + ".attn", s.n_embd, s.n_head, s.dropout, s.seed, kStreamLayer + 16 * layer),
      ln2(block_name(layer) + ".ln2", s.n_embd),
      ffn(std::move(f)) {
  attn.init(s.init, s.seed);
}

const Tensor& Block::forward(const Tensor& x, int64_t B, int64_t T, bool train, uint64_t step) {
  const Tensor& a = attn.forward(ln1.forward(x), B, T, train, step);
  add(x, a, mid_);
  const Tensor& f = ffn->forward(ln2.forward(mid_), train, step);
  add(mid_, f, out_);
  return out_;
}

const Tensor& Block::backward(const Tensor& dy) {
  const Tensor& dh2 = ln2.backward(ffn->backward(dy));
  add(dy, dh2, dmid_);
  const Tensor& dh1 = ln1.backward(attn.backward(dmid_));
  add(dmid_, dh1, dx_);
  return dx_;
}

void Block::collect_parameters(std::vector<Parameter*>& out) {
  ln1.collect_parameters(out);
  attn.collect_parameters(out);
  ln2.collect_parameters(out);
  ffn->collect_parameters(out);
}

LanguageModel::LanguageModel(const TransformerShape& s, const FfnSlotFactory& ffn)
    : wte("wte", s.vocab_size, s.n_embd),
      wpe("wpe", s.block_size, s.n_embd),
      ln_f("ln_f", s.n_embd),
      lm_head("lm_head", s.n_embd, s.vocab_size, true),
      shape_(s) {
  if (s.vocab_size < 1) throw std::invalid_argument("[model] vocab_size must be >= 1");
  init_embedding(wte.weight, s.init, s.seed);
  init_embedding(wpe.weight, s.init, s.seed);
  lm_head.init(s.init, s.seed);
  for (int64_t l = 0; l < s.n_layer; ++l) blocks.push_back(std::make_unique<Block>(s, l, ffn(l, block_name(l) + ".ffn")));
}

double LanguageModel::forward(const int32_t* idx, const int32_t* targets, int64_t B, int64_t T, bool train,
                              uint64_t step) {
  forward_on_device(idx, targets, B, T, train, step);
  return targets ? loss_.item() : 0.0;
}

void LanguageModel::forward_on_device(const int32_t* idx, const int32_t* targets, int64_t B, int64_t T, bool train,
                                      uint64_t step) {
  if (T > shape_.block_size || T < 1)
    throw std::invalid_argument("[model] sequence length " + std::to_string(T) + " outside [1, block_size]");
  B_ = B;
  T_ = T;
  pos_.resize(B * T);
  for (int64_t i = 0; i < B * T; ++i) pos_[i] = int32_t(i % T);
  const Tensor& te = wte.forward(idx, B * T);
  const Tensor& pe = wpe.forward(pos_.data(), B * T);
  add(te, pe, x0_);
  const Tensor* x = &x0_;
  for (auto& blk : blocks) x = &blk->forward(*x, B, T, train, step);
  logits_ = &lm_head.forward(ln_f.forward(*x));
  if (!targets) return;
  targets_.assign(targets, {B * T}, device());
  cross_entropy(*logits_, targets_, row_loss_, loss_, train ? &dlogits_ : nullptr, 1.0f);
}

void LanguageModel::backward() {
  const Tensor* d = &ln_f.backward(lm_head.backward(dlogits_));
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) d = &(*it)->backward(*d);
  wte.backward(*d);
  wpe.backward(*d);
}

double LanguageModel::aux_loss() const {
  double total = 0.0;
  for (const auto& blk : blocks) total += blk->ffn->aux_loss();
  return total;
}

void LanguageModel::stats(Stats& out) const {
  for (const auto& blk : blocks) blk->ffn->stats(out);
}

void LanguageModel::reset_stats() {
  for (auto& blk : blocks) blk->ffn->reset_stats();
}

void LanguageModel::collect_parameters(std::vector<Parameter*>& out) {
  wte.collect_parameters(out);
  wpe.collect_parameters(out);
  for (auto& blk : blocks) blk->collect_parameters(out);
  ln_f.collect_parameters(out);
  lm_head.collect_parameters(out);
}

}  // namespace peer
