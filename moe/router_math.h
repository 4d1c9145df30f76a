// The router's per-token math (moe/router.h), on both backends: the CPU loops of moe/router.cpp
// and the kernels of moe/cuda/router.cu call these, one token (one row of E scores) per call.
#pragma once

#include <cmath>
#include <cstdint>

#include "core/host_device.h"
#include "core/ops/softmax_math.h"

namespace peer {

enum class RouterKind { TopK, NoisyTopK, Switch };

struct RouterOptions {
  RouterKind kind = RouterKind::NoisyTopK;
  int64_t num_experts = 8;
  int64_t top_k = 2;
  float load_balance_coef = 0.01f;
  float importance_coef = 0.0f;
  float z_loss_coef = 1e-3f;
};

PEER_HD float router_softplus(float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); }
PEER_HD float router_sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

// p (E) = softmax of the clean logits z (E); returns their log-sum-exp.
PEER_HD float router_softmax(const float* z, int64_t E, float* p) {
  const float mx = row_max(z, 0, E, 1);
  const float lse = mx + float(std::log(row_sum_exp(z, 0, E, 1, mx)));
  for (int64_t e = 0; e < E; ++e) p[e] = std::exp(z[e] - lse);
  return lse;
}

// The gate of a top-1 choice c: softmax(h)_c over all E scores (c holds the largest score).
PEER_HD float router_top1_gate(const float* h, int64_t E, int32_t c) {
  float sum = 0.0f;
  for (int64_t e = 0; e < E; ++e) sum += std::exp(h[e] - h[c]);
  return 1.0f / sum;
}

// Top-k of one token's scores h (E) into chosen (k), best first (ties: lower expert index first),
// then its gates g (k); p (E) is the token's clean softmax (the switch gate).
PEER_HD void router_select(const RouterOptions& o, const float* h, const float* p, int32_t* chosen, float* g) {
  const int64_t E = o.num_experts, k = o.top_k;
  // Insertion into a sorted list of k (k is small); experts scanned in index order, so a tie
  // never displaces a lower index.
  int64_t size = 0;
  for (int32_t e = 0; e < E; ++e) {
    if (size == k && h[e] <= h[chosen[k - 1]]) continue;
    int64_t pos = size < k ? size++ : k - 1;
    while (pos > 0 && h[e] > h[chosen[pos - 1]]) {
      chosen[pos] = chosen[pos - 1];
      --pos;
    }
    chosen[pos] = e;
  }
  if (o.kind == RouterKind::Switch) {
    g[0] = p[chosen[0]];
    return;
  }
  if (k == 1) {  // a softmax over one kept score is always 1 and would teach the router nothing
    g[0] = router_top1_gate(h, E, chosen[0]);
    return;
  }
  float mx = h[chosen[0]], sum = 0.0f;
  for (int64_t s = 0; s < k; ++s) sum += (g[s] = std::exp(h[chosen[s]] - mx));
  for (int64_t s = 0; s < k; ++s) g[s] /= sum;
}

// Mean and (population) variance of the E importances I.
PEER_HD void importance_moments(const double* I, int64_t E, double& mu, double& var) {
  mu = 0.0;
  for (int64_t e = 0; e < E; ++e) mu += I[e];
  mu /= double(E);
  var = 0.0;
  for (int64_t e = 0; e < E; ++e) var += (I[e] - mu) * (I[e] - mu) / double(E);
}

// What one token's backward reads. f, importance (E) are the batch's choice fractions and
// importances; eps and noise_logits (E) are set in noisy training only (else null).
struct RouterTokenGrad {
  const int32_t* chosen;  // (k)
  const float *g, *dgate;  // (k) gates and the loss gradient w.r.t. them
  const float *p, *h;      // (E) clean softmax, scores
  float lse;
  int64_t tokens;
  const double *f, *importance;  // (E)
  double mu, var;                // of importance
  const float *eps, *noise_logits;  // (E) or null
};

// One token's logit gradients: dz (E, zeroed by the caller) w.r.t. the clean logits and dnoise
// (E, zeroed; null unless noisy training) w.r.t. the noise network's logits, through the gates
// and the aux losses. dp (E) is scratch.
PEER_HD void router_token_backward(const RouterOptions& o, const RouterTokenGrad& t, float* dp, float* dz,
                                   float* dnoise) {
  const int64_t E = o.num_experts, k = o.top_k, N = t.tokens;
  // A gradient dh of the score of expert e: h = z (+ eps * softplus(noise logit) in noisy
  // training), so it reaches the clean logit and the noise network.
  auto add_dscore = [&](int64_t e, float dh) {
    dz[e] += dh;
    if (dnoise) dnoise[e] += dh * t.eps[e] * router_sigmoid(t.noise_logits[e]);
  };
  // d(CV^2)/dI_i = 2 (I_i - mu) / (E mu^2) - 2 var / (E mu^3), on every gate of expert i.
  auto dgate = [&](int64_t s) {
    float dg = t.dgate[s];
    if (o.importance_coef > 0.0f) {
      const double I = t.importance[t.chosen[s]], mu = t.mu, var = t.var;
      dg += float(o.importance_coef * (2.0 * (I - mu) / (E * mu * mu) - 2.0 * var / (E * mu * mu * mu)));
    }
    return dg;
  };
  // Gradient w.r.t. the full softmax P (switch gates and aux losses), pushed through softmax.
  for (int64_t e = 0; e < E; ++e) dp[e] = o.load_balance_coef * float(E) * float(t.f[e]) / float(N);
  if (o.kind == RouterKind::Switch) {
    dp[t.chosen[0]] += dgate(0);
  } else if (k == 1) {
    // g = softmax(h)_c: dg/dh_e = g (delta_ce - softmax(h)_e).
    const float g0 = t.g[0], dg0 = dgate(0);
    for (int64_t e = 0; e < E; ++e) {
      const float p = std::exp(t.h[e] - t.h[t.chosen[0]]) * g0;
      add_dscore(e, g0 * dg0 * ((e == t.chosen[0] ? 1.0f : 0.0f) - p));
    }
  } else {
    float dot = 0.0f;
    for (int64_t s = 0; s < k; ++s) dot += t.g[s] * dgate(s);
    for (int64_t s = 0; s < k; ++s) add_dscore(t.chosen[s], t.g[s] * (dgate(s) - dot));
  }
  float pdp = 0.0f;
  for (int64_t e = 0; e < E; ++e) pdp += t.p[e] * dp[e];
  for (int64_t e = 0; e < E; ++e)
    dz[e] += t.p[e] * (dp[e] - pdp) + o.z_loss_coef * 2.0f * t.lse * t.p[e] / float(N);
}

}  // namespace peer
