// Exact parameter and FLOP accounting of the language model a Config describes, so that sweep
// variants can be compared per parameter and per FLOP (experiments/README.md).
//
// Rules (one place; report.md repeats them):
//  - Parameters: every trainable tensor build_model() creates (frozen ones too), embeddings
//    included; BatchNorm running statistics are buffers and are not counted.
//  - Active parameters per token: every parameter a token's forward pass multiplies or adds,
//    embeddings (wte, wpe: one looked-up row each) excluded. Attention, LayerNorms, the lm head;
//    dense FFN: all of it; MoE: the router (gate, plus the noise net of noisy_topk) and top_k
//    experts plus the shared experts (top_k is nominal: capacity drops are not subtracted);
//    PEER: the query net (and its BatchNorm), every sub-key (all are scored) and h*k rows of U
//    and of V (nominal: an expert retrieved by two heads counts twice). PKM / Memory+: the same
//    query machinery (per-head key sets all counted; Memory+'s query LayerNorm) and h*k value
//    rows, plus Memory+'s W1 and W2; a shared Memory+ value table counts once in the total.
//  - FFN active parameters per token: the expert weights only (dense FFN, the k routed experts
//    and the shared ones, PEER's h*k rows of U and V, PKM's h*k value rows, Memory+'s h*k value
//    rows plus W1 and W2); the quantity a granularity sweep matches.
//  - Granularity G of an FFN slot = its active expert parameters / the parameters of one of its
//    experts: dense 1 (the FFN is one expert), MoE top_k (+ the shared experts' share), PEER
//    heads * top_k (one expert = one row of U and one of V), PKM and Memory+ heads * top_k (one
//    expert = one value row; Memory+'s W1 and W2 are FFN weights but not experts).
//  - FLOPs per token, forward and backward apart, per component, counted from what the CPU code
//    computes: 2 per multiply-add of every matrix and dot product; 1 per product-key candidate
//    sum and per element of MoE dispatch work (gate scaling, gathers). Not counted: biases, norms,
//    activations, softmax, residual adds, dropout, top-k comparisons, embedding lookups, the loss.
//    A Linear's backward is dX and dW (2 x forward); every parameter is taken to be trainable.
//      attention  QKV and output projections; scores and weighted sum over a full causal window
//                 of block_size T ((T+1)/2 keys a token on average); backward dQ, dK, dV and the
//                 score gradients: 2 x forward.
//      query      PEER's (PKM's, Memory+'s) query net d -> heads * d_key (its norms are norms).
//      sub_keys   PEER, PKM and Memory+ sub-scores q1.C1 and q2.C2: n1 + n2 dot products of d_key/2 per head.
//                 Backward touches only the k retrieved (i1, i2) pairs per head: dq and dC1, dC2
//                 (4 * d_key per retrieved expert), not the n1 + n2 sub-scores.
//      top_k      PEER's, PKM's and Memory+'s candidate sums (pairs of sorted positions a, b with a*b <= k); no backward.
//      experts    dense FFN; MoE: top_k experts + shared ones; PEER: h*k experts of u.x and the
//                 weighted v added to the output (4d), backward v.dy, dx, dU and dV rows (8d);
//                 PKM / Memory+: h*k weighted value rows (2 * value_dim), backward v.dy and dV
//                 rows (4 * value_dim), plus Memory+'s W1 and W2 as Linears.
//      router     MoE gate and, for noisy_topk, the noise net (the training forward).
//      dispatch   MoE combine of the k gate-weighted expert outputs (2kd); backward the k gate
//                 gradients (2kd), the gate-scaled output gradients (kd), the gather of the k
//                 input gradients (kd). Capacity drops are not subtracted (nominal top_k).
//      head       the lm head.
//  - Training FLOPs per token = forward + backward. Evaluation forwards are not included.
#pragma once

#include <array>
#include <cstdint>

#include "experiments/run/config.h"

namespace peer {

// The components FLOPs are split into (the rules above); kParts of them.
enum class Part { Attention, Query, SubKeys, TopK, Experts, Router, Dispatch, Head };
constexpr int kParts = 8;
const char* part_name(Part p);  // "attention", "query", "sub_keys", ...

// FLOPs per token of one component.
struct Flops {
  double fwd = 0, bwd = 0;
  double train() const { return fwd + bwd; }
};

struct Accounting {
  int64_t total_params = 0;
  int64_t embedding_params = 0;   // wte + wpe (part of total_params)
  int64_t active_params = 0;      // per token, embeddings excluded
  int64_t ffn_active_params = 0;  // per token, expert weights of all FFN slots
  double granularity = 1.0;       // of the expert FFN slots (dense: 1)
  std::array<Flops, kParts> flops{};  // per token, by Part

  Flops& operator[](Part p) { return flops[size_t(p)]; }
  const Flops& operator[](Part p) const { return flops[size_t(p)]; }
  double forward_flops() const;
  double backward_flops() const;
  double train_flops() const { return forward_flops() + backward_flops(); }
};

Accounting account(const Config& c, int64_t vocab_size);

// Candidate sums one product-key retrieval forms for top-k over sides n1 x n2.
int64_t product_key_candidates(int64_t n1, int64_t n2, int64_t k);

}  // namespace peer
