#include "experiments/run/accounting.h"

#include <algorithm>
#include <stdexcept>

namespace peer {

namespace {

int64_t linear_params(int64_t in, int64_t out, bool bias) { return in * out + (bias ? out : 0); }
// y = x W: forward one GEMM; backward dX and dW, one GEMM each.
Flops linear_flops(int64_t in, int64_t out) { return {2.0 * double(in * out), 4.0 * double(in * out)}; }

// Linear(d, hidden) -> act -> Linear(hidden, d), both with bias: the dense FFN, one MoE expert.
int64_t mlp_params(int64_t d, int64_t hidden) { return linear_params(d, hidden, true) + linear_params(hidden, d, true); }
Flops mlp_flops(int64_t d, int64_t hidden) {
  Flops a = linear_flops(d, hidden), b = linear_flops(hidden, d);
  return {a.fwd + b.fwd, a.bwd + b.bwd};
}

Flops operator*(double s, Flops f) { return {s * f.fwd, s * f.bwd}; }
Flops operator+(Flops a, Flops b) { return {a.fwd + b.fwd, a.bwd + b.bwd}; }

// One FFN slot (the FFN of one block): one function per FFN kind below.
struct Slot {
  int64_t params = 0;      // all of the slot's parameters
  int64_t active = 0;      // those one token uses
  int64_t ffn_active = 0;  // the expert weights among them
  double granularity = 1;  // active expert parameters / parameters of one expert
  std::array<Flops, kParts> flops{};
  Flops& operator[](Part p) { return flops[size_t(p)]; }
};

Slot dense_slot(const Config& c) {
  Slot s;
  s.params = s.active = s.ffn_active = mlp_params(c.model.n_embd, c.d_ff());
  s[Part::Experts] = mlp_flops(c.model.n_embd, c.d_ff());
  return s;
}

Slot moe_slot(const Config& c) {
  const int64_t d = c.model.n_embd, E = c.moe.num_experts, k = c.moe.top_k, de = c.d_expert();
  const int64_t nets = c.moe.router == "noisy_topk" ? 2 : 1;  // the gate, and the noise net
  const int64_t router = nets * linear_params(d, E, true);
  const int64_t shared = c.moe.num_shared > 0 ? mlp_params(d, c.moe.num_shared * de) : 0;
  const int64_t one_expert = mlp_params(d, de);
  Slot s;
  s.ffn_active = k * one_expert + shared;
  s.granularity = double(s.ffn_active) / double(one_expert);
  s.params = router + E * one_expert + shared;
  s.active = router + s.ffn_active;
  s[Part::Router] = double(nets) * linear_flops(d, E);
  s[Part::Experts] = double(k) * mlp_flops(d, de);
  if (c.moe.num_shared > 0) s[Part::Experts] = s[Part::Experts] + mlp_flops(d, c.moe.num_shared * de);
  s[Part::Dispatch] = {2.0 * double(k * d), 4.0 * double(k * d)};
  return s;
}

Slot peer_slot(const Config& c) {
  const int64_t d = c.model.n_embd, h = c.peer.heads, k = c.peer.top_k, dk = c.peer.d_key;
  auto [n1, n2] = c.peer_sides();
  const int64_t query = linear_params(d, h * dk, false);
  const int64_t bn = c.peer.query_batchnorm ? 2 * h * dk : 0;  // weight and bias; running stats are buffers
  const int64_t keys = (n1 + n2) * (dk / 2);
  const int64_t one_expert = 2 * d;  // a row of U and a row of V
  Slot s;
  s.ffn_active = h * k * one_expert;
  s.granularity = double(h * k);
  s.params = query + bn + keys + n1 * n2 * one_expert;
  s.active = query + bn + keys + s.ffn_active;  // every sub-key is scored
  s[Part::Query] = linear_flops(d, h * dk);
  // Forward: n1 + n2 dot products of d_key/2 per head. Backward (keys_backward): per retrieved
  // expert, dq += ds * (C1[i1], C2[i2]) and dC1[i1], dC2[i2] += ds * q: 2 * d_key multiply-adds.
  s[Part::SubKeys] = {double(h * (n1 + n2) * dk), 4.0 * double(h * k * dk)};
  s[Part::TopK] = {double(h * product_key_candidates(n1, n2, k)), 0.0};
  // Forward u.x and out += w * act * v; backward v.dy, dx += da * u, dU += da * x, dV += c * dy.
  s[Part::Experts] = {4.0 * double(h * k * d), 8.0 * double(h * k * d)};
  return s;
}

// PKM and Memory+ (ffn = pkm, memory_plus): one expert is one value row, h*k of them read per
// token (nominal: a row read by two heads counts twice), so G = h*k; Memory+'s gate W1 and
// projection W2 are FFN weights too. Query net, sub-keys (per head unless pkm.shared_keys; all
// scored) and candidate sums as PEER's. values_counted: the value table is shared
// (memory_plus.shared_pool) and an earlier block already counted its parameters.
Slot memory_slot(const Config& c, bool values_counted) {
  const int64_t d = c.model.n_embd, h = c.pkm.heads, k = c.pkm.top_k, dk = c.pkm.d_key, vd = c.pkm_value_dim();
  const bool plus = c.model.ffn == "memory_plus";
  auto [n1, n2] = c.pkm_sides();
  const int64_t query = linear_params(d, h * dk, false);
  const int64_t norms = (c.pkm.query_batchnorm ? 2 * h * dk : 0) + (plus && c.memory_plus.qk_norm ? 2 * (dk / 2) : 0);
  const int64_t keys = (c.pkm.shared_keys ? 1 : h) * (n1 + n2) * (dk / 2);
  const int64_t gate = plus ? linear_params(d, vd, true) + linear_params(vd, d, true) : 0;
  Slot s;
  s.ffn_active = h * k * vd + gate;
  s.granularity = double(h * k);
  s.params = query + norms + keys + (values_counted ? 0 : n1 * n2 * vd) + gate;
  s.active = query + norms + keys + s.ffn_active;
  s[Part::Query] = linear_flops(d, h * dk);
  // As PEER's: forward all sub-scores, backward dq, dC1, dC2 of the k retrieved pairs per head.
  s[Part::SubKeys] = {double(h * (n1 + n2) * dk), 4.0 * double(h * k * dk)};
  s[Part::TopK] = {double(h * product_key_candidates(n1, n2, k)), 0.0};
  // Forward out += w * v per row; backward the weight gradient v.dy and dV rows += w * dy.
  s[Part::Experts] = {2.0 * double(h * k * vd), 4.0 * double(h * k * vd)};
  if (plus) s[Part::Experts] = s[Part::Experts] + linear_flops(d, vd) + linear_flops(vd, d);
  return s;
}

Slot ffn_slot(const Config& c, int64_t layer, bool memory_seen) {
  if (!c.is_expert_block(layer)) return dense_slot(c);
  if (c.model.ffn == "moe") return moe_slot(c);
  if (c.model.ffn == "peer") return peer_slot(c);
  if (c.model.ffn == "pkm") return memory_slot(c, false);
  if (c.model.ffn == "memory_plus") return memory_slot(c, c.memory_plus.shared_pool && memory_seen);
  throw std::logic_error("[accounting] no accounting for model.ffn = '" + c.model.ffn + "'");
}

}  // namespace

const char* part_name(Part p) {
  switch (p) {
    case Part::Attention: return "attention";
    case Part::Query: return "query";
    case Part::SubKeys: return "sub_keys";
    case Part::TopK: return "top_k";
    case Part::Experts: return "experts";
    case Part::Router: return "router";
    case Part::Dispatch: return "dispatch";
    case Part::Head: return "head";
  }
  return "?";
}

double Accounting::forward_flops() const {
  double f = 0;
  for (const Flops& x : flops) f += x.fwd;
  return f;
}

double Accounting::backward_flops() const {
  double f = 0;
  for (const Flops& x : flops) f += x.bwd;
  return f;
}

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
  a.total_params = a.embedding_params;
  // Scores and weighted sum: (T+1)/2 keys a token on average, d multiply-adds each over all heads.
  const double core = 2.0 * (2.0 * double(d) * double(T + 1) / 2.0);
  const Flops attention = linear_flops(d, 3 * d) + linear_flops(d, d) + Flops{core, 2.0 * core};
  const int64_t block_params = linear_params(d, 3 * d, false) + linear_params(d, d, true) + 2 * (2 * d);  // + ln1, ln2
  bool memory_seen = false;  // a memory_plus block came before (a shared value table counts once)
  for (int64_t layer = 0; layer < c.model.n_layer; ++layer) {
    a.total_params += block_params;
    a.active_params += block_params;
    a[Part::Attention] = a[Part::Attention] + attention;
    const Slot s = ffn_slot(c, layer, memory_seen);
    memory_seen |= c.is_expert_block(layer);
    a.total_params += s.params;
    a.active_params += s.active;
    a.ffn_active_params += s.ffn_active;
    for (int p = 0; p < kParts; ++p) a.flops[p] = a.flops[p] + s.flops[p];
    if (c.is_expert_block(layer)) a.granularity = s.granularity;
  }
  const int64_t head = 2 * d + linear_params(d, V, true);  // ln_f, lm head
  a.total_params += head;
  a.active_params += head;
  a[Part::Head] = linear_flops(d, V);
  return a;
}

}  // namespace peer
