#include "experiments/run/accounting.h"

#include <algorithm>

namespace peer {

namespace {

// Parameters and forward FLOPs per token of one part of the model.
struct Cost {
  int64_t params = 0;  // all of the part's parameters
  int64_t active = 0;  // those one token uses
  double flops = 0;    // forward, per token
};

Cost linear(int64_t in, int64_t out, bool bias) {
  int64_t p = in * out + (bias ? out : 0);
  return {p, p, 2.0 * double(in * out)};
}

// Linear(d, hidden) -> act -> Linear(hidden, d), both with bias: the dense FFN, one MoE expert.
Cost mlp(int64_t d, int64_t hidden) {
  Cost a = linear(d, hidden, true), b = linear(hidden, d, true);
  return {a.params + b.params, a.active + b.active, a.flops + b.flops};
}

// What one FFN slot adds to the totals: its expert weights go to the `ffn` part, the router or
// query/key machinery to `routing`.
struct SlotCost {
  Cost ffn, routing;
};

SlotCost dense_slot(const Config& c) { return {mlp(c.model.n_embd, c.d_ff()), {}}; }

SlotCost moe_slot(const Config& c) {
  const int64_t d = c.model.n_embd, E = c.moe.num_experts, k = c.moe.top_k;
  SlotCost s;
  s.routing = linear(d, E, true);
  if (c.moe.router == "noisy_topk") {
    Cost noise = linear(d, E, true);
    s.routing = {s.routing.params + noise.params, s.routing.active + noise.active, s.routing.flops + noise.flops};
  }
  Cost expert = mlp(d, c.d_expert());
  s.ffn = {E * expert.params, k * expert.active, double(k) * expert.flops};
  if (c.moe.num_shared > 0) {
    Cost shared = mlp(d, c.moe.num_shared * c.d_expert());
    s.ffn = {s.ffn.params + shared.params, s.ffn.active + shared.active, s.ffn.flops + shared.flops};
  }
  return s;
}

SlotCost peer_slot(const Config& c) {
  const int64_t d = c.model.n_embd, h = c.peer.heads, k = c.peer.top_k, dk = c.peer.d_key;
  auto [n1, n2] = c.peer_sides();
  SlotCost s;
  Cost query = linear(d, h * dk, false);
  int64_t bn = c.peer.query_batchnorm ? 2 * h * dk : 0;  // weight and bias; running stats are buffers
  int64_t keys = (n1 + n2) * (dk / 2);
  double sub_scores = 2.0 * double(h * (n1 + n2) * (dk / 2));
  double candidates = double(h * product_key_candidates(n1, n2, k));
  s.routing = {query.params + bn + keys, query.active + bn + keys, query.flops + sub_scores + candidates};
  s.ffn = {2 * n1 * n2 * d, 2 * h * k * d, 4.0 * double(h * k * d)};
  return s;
}

// PKM and Memory+ (ffn = pkm, memory_plus): the query net (its BatchNorm, Memory+'s query
// LayerNorm), every sub-key of every key set (all are scored) and the candidate sums go to
// `routing`; the h*k value rows read (one PKM expert each: nominal, a row read by two heads counts
// twice) and Memory+'s gate W1 and projection W2 go to `ffn`. values_counted: the value table is
// shared (memory_plus.shared_pool) and an earlier block already counted its parameters.
SlotCost memory_slot(const Config& c, bool values_counted) {
  const int64_t d = c.model.n_embd, h = c.pkm.heads, k = c.pkm.top_k, dk = c.pkm.d_key, vd = c.pkm_value_dim();
  const bool plus = c.model.ffn == "memory_plus";
  auto [n1, n2] = c.pkm_sides();
  SlotCost s;
  Cost query = linear(d, h * dk, false);
  int64_t norms = (c.pkm.query_batchnorm ? 2 * h * dk : 0) + (plus && c.memory_plus.qk_norm ? 2 * (dk / 2) : 0);
  int64_t keys = (c.pkm.shared_keys ? 1 : h) * (n1 + n2) * (dk / 2);
  double sub_scores = 2.0 * double(h * (n1 + n2) * (dk / 2));
  double candidates = double(h * product_key_candidates(n1, n2, k));
  s.routing = {query.params + norms + keys, query.active + norms + keys, query.flops + sub_scores + candidates};
  s.ffn = {values_counted ? 0 : n1 * n2 * vd, h * k * vd, 2.0 * double(h * k * vd)};
  if (plus) {
    Cost gate = linear(d, vd, true), out = linear(vd, d, true);
    s.ffn = {s.ffn.params + gate.params + out.params, s.ffn.active + gate.active + out.active,
             s.ffn.flops + gate.flops + out.flops};
  }
  return s;
}

}  // namespace

int64_t product_key_candidates(int64_t n1, int64_t n2, int64_t k) {
  // The retrieval sums only sorted-position pairs (a, b), 1-based, with a * b <= k (peer/product_keys.h).
  int64_t n = 0;
  for (int64_t a = 1; a <= std::min(k, n1); ++a) n += std::min({k / a, k, n2});
  return n;
}

Accounting account(const Config& c, int64_t vocab_size) {
  const int64_t d = c.model.n_embd, T = c.model.block_size, V = vocab_size;
  Accounting a;
  a.embedding_params = V * d + T * d;
  int64_t active = 0, params = a.embedding_params;
  bool memory_seen = false;  // a PKM / Memory+ block came before (a shared value table counts once)
  for (int64_t layer = 0; layer < c.model.n_layer; ++layer) {
    Cost qkv = linear(d, 3 * d, false), proj = linear(d, d, true);
    int64_t norms = 2 * (2 * d);  // ln1, ln2
    params += qkv.params + proj.params + norms;
    active += qkv.active + proj.active + norms;
    // Scores and weighted sum: (T+1)/2 keys on average per token, d multiply-adds each over all heads.
    a.attention_flops += qkv.flops + proj.flops + 2.0 * (2.0 * double(d) * double(T + 1) / 2.0);

    const bool memory = c.is_expert_block(layer) && (c.model.ffn == "pkm" || c.model.ffn == "memory_plus");
    SlotCost slot = memory                      ? memory_slot(c, c.memory_plus.shared_pool && memory_seen)
                    : !c.is_expert_block(layer) ? dense_slot(c)
                    : c.model.ffn == "moe"      ? moe_slot(c)
                                                : peer_slot(c);
    memory_seen |= memory;
    params += slot.ffn.params + slot.routing.params;
    active += slot.ffn.active + slot.routing.active;
    a.ffn_active_params += slot.ffn.active;
    a.ffn_flops += slot.ffn.flops;
    a.routing_flops += slot.routing.flops;
  }
  Cost head = linear(d, V, true);
  params += 2 * d + head.params;  // ln_f, lm head
  active += 2 * d + head.active;
  a.head_flops = head.flops;
  a.total_params = params;
  a.active_params = active;
  if (c.model.ffn == "moe") a.granularity = double(c.d_ff()) / double(c.d_expert());
  // PEER: h heads x top-k experts active per token, each one neuron: G = h * k (the PEER paper).
  if (c.model.ffn == "peer") a.granularity = double(c.peer.heads * c.peer.top_k);
  // PKM / Memory+: one expert is one value row, h * k of them read per token.
  if (c.model.ffn == "pkm" || c.model.ffn == "memory_plus") a.granularity = double(c.pkm.heads * c.pkm.top_k);
  return a;
}

}  // namespace peer
