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
//  - FLOPs: 2 per multiply-accumulate of every matrix and dot product, plus 1 per product-key
//    candidate sum. Not counted: biases, norms, activations, softmax, residual adds, dropout,
//    top-k comparisons, embedding lookups, the loss. Attention over a full causal window of
//    block_size T: a token scores (T+1)/2 keys on average, and the weighted sum reads as many
//    values. MoE: router GEMMs (noise net included: the training forward) + k + shared experts.
//    PEER per head: query net, sub-scores q1.C1 and q2.C2 (n1 + n2 dot products of d_key/2),
//    the candidate sums the retrieval forms (pairs of sorted positions a, b with a*b <= k), and
//    k experts of 4d each (u.x, then the weighted v added to the output). PKM / Memory+ per head:
//    the same query and key terms, then k value rows of 2 * value_dim each; Memory+ adds W1, W2.
//  - Training FLOPs per token = 3 x forward (backward = 2 x forward, the Kaplan et al. rule).
//    Evaluation forwards are not included in training FLOPs.
#pragma once

#include <cstdint>
#include <optional>

#include "experiments/run/config.h"

namespace peer {

struct Accounting {
  int64_t total_params = 0;
  int64_t embedding_params = 0;   // wte + wpe (part of total_params)
  int64_t active_params = 0;      // per token, embeddings excluded
  int64_t ffn_active_params = 0;  // per token, expert weights of all FFN slots
  // Forward FLOPs per token, by part.
  double attention_flops = 0;  // QKV, scores, weighted sum, output projection
  double ffn_flops = 0;        // dense FFN, expert MLPs, PEER experts, memory value rows (+ Memory+ W1, W2)
  double routing_flops = 0;    // MoE routers; PEER / PKM / Memory+ query nets, sub-scores, candidate sums
  double head_flops = 0;       // lm head
  std::optional<double> granularity;  // G = d_ff / d_expert (PEER, PKM, Memory+: heads * top_k); none for dense

  double forward_flops() const { return attention_flops + ffn_flops + routing_flops + head_flops; }
  double train_flops() const { return 3.0 * forward_flops(); }
};

Accounting account(const Config& c, int64_t vocab_size);

// Candidate sums one product-key retrieval forms for top-k over sides n1 x n2.
int64_t product_key_candidates(int64_t n1, int64_t n2, int64_t k);

}  // namespace peer
