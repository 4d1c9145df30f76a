#include "core/nn/attention.h"

#include <stdexcept>

#include "core/ops/attention.h"

namespace peer {

CausalSelfAttention::CausalSelfAttention(const std::string& name, int64_t n_embd, int64_t n_head, float dropout,
                                         uint64_t seed, uint64_t stream)
    : qkv(name + ".qkv", n_embd, 3 * n_embd, false),
      proj(name + ".proj", n_embd, n_embd, true),
      C_(n_embd),
      H_(n_head),
      attn_drop_(dropout, seed, stream),
      resid_drop_(dropout, seed, stream + 1) {
  if (n_head < 1 || n_embd % n_head != 0)
    throw std::invalid_argument("[attention] n_embd " + std::to_string(n_embd) + " is not divisible by n_head " +
                                std::to_string(n_head));
}

void CausalSelfAttention::init(InitScheme s, uint64_t seed) {
  qkv.init(s, seed);
  proj.init(s, seed);
}

const Tensor& CausalSelfAttention::forward(const Tensor& x, int64_t B, int64_t T, bool train, uint64_t step) {
  B_ = B;
  T_ = T;
  qkv_out_ = &qkv.forward(x);
  attn_drop_.start(train, step);
  attention_forward(*qkv_out_, B, T, H_, attn_drop_.rule(), attn_mask_, probs_, dropped_, att_);
  resid_drop_.forward(proj.forward(att_), y_, train, step);
  return y_;
}

const Tensor& CausalSelfAttention::backward(const Tensor& dy) {
  resid_drop_.backward(dy, dtmp_);
  const Tensor& datt = proj.backward(dtmp_);
  attention_backward(*qkv_out_, probs_, dropped_, attn_drop_.rule(), attn_mask_, datt, B_, T_, H_, dprobs_, dqkv_);
  return qkv.backward(dqkv_);
}

void CausalSelfAttention::collect_parameters(std::vector<Parameter*>& out) {
  qkv.collect_parameters(out);
  proj.collect_parameters(out);
}

}  // namespace peer
