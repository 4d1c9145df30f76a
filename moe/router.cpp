#include "moe/router.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "core/ops/backend.h"
#include "core/rng.h"

namespace peer {

RouterKind parse_router(const std::string& name) {
  if (name == "topk") return RouterKind::TopK;
  if (name == "noisy_topk") return RouterKind::NoisyTopK;
  if (name == "switch") return RouterKind::Switch;
  throw std::invalid_argument("[router] unknown router '" + name + "' (expected topk, noisy_topk or switch)");
}

namespace {
float softplus(float v) { return v > 20.0f ? v : std::log1p(std::exp(v)); }
float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

// The gate of a top-1 choice c: softmax(h)_c over all E scores (c holds the largest score).
float top1_gate(const float* h, int64_t E, int32_t c) {
  float sum = 0.0f;
  for (int64_t e = 0; e < E; ++e) sum += std::exp(h[e] - h[c]);
  return 1.0f / sum;
}
}  // namespace

Router::Router(const std::string& name, int64_t d, const RouterOptions& o, InitScheme init, uint64_t seed,
               uint64_t stream)
    : gate(name + ".gate", d, o.num_experts, true), opt_(o), seed_(seed), stream_(stream) {
  if (o.kind == RouterKind::Switch) opt_.top_k = 1;
  if (opt_.top_k < 1 || opt_.top_k > o.num_experts)
    throw std::invalid_argument("[router] top_k must be in [1, num_experts]");
  gate.init(init, seed);
  if (o.kind == RouterKind::NoisyTopK) {
    noise = std::make_unique<Linear>(name + ".noise", d, o.num_experts, true);
    noise->init(init, seed);
  }
}

const Routing& Router::forward(const Tensor& x, bool train, uint64_t step) {
  require_cpu(x, "[moe.router forward]");
  const int64_t N = x.dim(0), E = opt_.num_experts, k = opt_.top_k;
  logits_ = &gate.forward(x);
  scores_.copy_from(*logits_);
  noisy_now_ = opt_.kind == RouterKind::NoisyTopK && train;
  if (noisy_now_) {
    noise_logits_ = &noise->forward(x);
    eps_.resize({N, E});
    if (fixed_noise_.empty()) {
      // eps_i = Philox normal at offset (step << 32) + i, four per Box-Muller block.
      const Philox rng(seed_, stream_);
#pragma omp parallel for schedule(static) if (N * E >= 2048)
      for (int64_t i = 0; i < N * E; i += 4) {
        const std::array<float, 4> z = rng.normal4(((step << 32) + uint64_t(i)) >> 2);
        std::copy_n(z.begin(), std::min<int64_t>(4, N * E - i), eps_.data() + i);
      }
    } else {
      if (int64_t(fixed_noise_.size()) < N * E) throw std::invalid_argument("[router] fixed noise shorter than N * E");
      std::copy_n(fixed_noise_.begin(), N * E, eps_.data());
    }
#pragma omp parallel for schedule(static) if (N * E >= 2048)
    for (int64_t i = 0; i < N * E; ++i) scores_[i] += eps_[i] * softplus((*noise_logits_)[i]);
  }
  probs_.resize({N, E});
  lse_.resize(N);
  routing_.tokens = N;
  routing_.k = k;
  routing_.expert.resize(N * k);
  routing_.gate.resize(N * k);
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < N; ++t) {
    const float* z = logits_->data() + t * E;
    float mx = *std::max_element(z, z + E);
    double sum = 0.0;
    for (int64_t e = 0; e < E; ++e) sum += std::exp(double(z[e] - mx));
    lse_[t] = mx + float(std::log(sum));
    for (int64_t e = 0; e < E; ++e) probs_[t * E + e] = std::exp(z[e] - lse_[t]);
    select(t, scores_.data() + t * E);
  }
  compute_aux(N);
  return routing_;
}

// Top-k of token t's scores (ties: lower expert index first), then its gates.
void Router::select(int64_t t, const float* h) {
  const int64_t E = opt_.num_experts, k = opt_.top_k;
  int32_t* chosen = routing_.expert.data() + t * k;
  float* g = routing_.gate.data() + t * k;
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
  if (opt_.kind == RouterKind::Switch) {
    g[0] = probs_[t * E + chosen[0]];
    return;
  }
  if (k == 1) {  // a softmax over one kept score is always 1 and would teach the router nothing
    g[0] = top1_gate(h, E, chosen[0]);
    return;
  }
  float mx = h[chosen[0]], sum = 0.0f;
  for (int64_t s = 0; s < k; ++s) sum += (g[s] = std::exp(h[chosen[s]] - mx));
  for (int64_t s = 0; s < k; ++s) g[s] /= sum;
}

void Router::compute_aux(int64_t N) {
  const int64_t E = opt_.num_experts, k = opt_.top_k;
  f_.assign(E, 0.0);
  importance_.assign(E, 0.0);
  for (int64_t a = 0; a < N * k; ++a) {
    f_[routing_.expert[a]] += 1.0 / double(N * k);
    importance_[routing_.expert[a]] += routing_.gate[a];
  }
  aux_ = {};
  if (opt_.load_balance_coef > 0.0f) {
    for (int64_t e = 0; e < E; ++e) {
      double mean_p = 0.0;
      for (int64_t t = 0; t < N; ++t) mean_p += probs_[t * E + e];
      aux_.load_balance += f_[e] * mean_p / double(N);
    }
    aux_.load_balance *= opt_.load_balance_coef * double(E);
  }
  if (opt_.importance_coef > 0.0f) {
    double mu = std::accumulate(importance_.begin(), importance_.end(), 0.0) / double(E), var = 0.0;
    for (double v : importance_) var += (v - mu) * (v - mu) / double(E);
    aux_.importance = opt_.importance_coef * var / (mu * mu);
  }
  if (opt_.z_loss_coef > 0.0f) {
    for (int64_t t = 0; t < N; ++t) aux_.z_loss += double(lse_[t]) * lse_[t];
    aux_.z_loss *= opt_.z_loss_coef / double(N);
  }
}

const Tensor& Router::backward(const std::vector<float>& dgate_in) {
  const int64_t N = routing_.tokens, E = opt_.num_experts, k = opt_.top_k;
  std::vector<float> dg = dgate_in;
  if (opt_.importance_coef > 0.0f) {
    // d(CV^2)/dI_i = 2 (I_i - mu) / (E mu^2) - 2 var / (E mu^3).
    double mu = std::accumulate(importance_.begin(), importance_.end(), 0.0) / double(E), var = 0.0;
    for (double v : importance_) var += (v - mu) * (v - mu) / double(E);
    for (int64_t a = 0; a < N * k; ++a) {
      double I = importance_[routing_.expert[a]];
      dg[a] += float(opt_.importance_coef * (2.0 * (I - mu) / (E * mu * mu) - 2.0 * var / (E * mu * mu * mu)));
    }
  }
  dlogits_.resize({N, E});
  dlogits_.zero();
  if (noisy_now_) {
    dnoise_.resize({N, E});
    dnoise_.zero();
  }
  std::vector<float> dp(E);
  for (int64_t t = 0; t < N; ++t) {
    const int32_t* chosen = routing_.expert.data() + t * k;
    const float* g = routing_.gate.data() + t * k;
    const float* P = probs_.data() + t * E;
    float* dz = dlogits_.data() + t * E;
    // Gradient w.r.t. the full softmax P (switch gates and aux losses), pushed through softmax.
    for (int64_t e = 0; e < E; ++e)
      dp[e] = opt_.load_balance_coef * float(E) * float(f_[e]) / float(N);
    if (opt_.kind == RouterKind::Switch) {
      dp[chosen[0]] += dg[t];
    } else if (k == 1) {
      // g = softmax(h)_c: dg/dh_e = g (delta_ce - softmax(h)_e).
      const float* h = scores_.data() + t * E;
      for (int64_t e = 0; e < E; ++e) {
        const float p = std::exp(h[e] - h[chosen[0]]) * g[0];
        add_dscore(t, e, g[0] * dg[t] * ((e == chosen[0] ? 1.0f : 0.0f) - p));
      }
    } else {
      float dot = 0.0f;
      for (int64_t s = 0; s < k; ++s) dot += g[s] * dg[t * k + s];
      for (int64_t s = 0; s < k; ++s) add_dscore(t, chosen[s], g[s] * (dg[t * k + s] - dot));
    }
    float pdp = 0.0f;
    for (int64_t e = 0; e < E; ++e) pdp += P[e] * dp[e];
    for (int64_t e = 0; e < E; ++e)
      dz[e] += P[e] * (dp[e] - pdp) + opt_.z_loss_coef * 2.0f * lse_[t] * P[e] / float(N);
  }
  const Tensor& dx_gate = gate.backward(dlogits_);
  dx_.copy_from(dx_gate);
  if (noisy_now_) {
    const Tensor& dx_noise = noise->backward(dnoise_);
    for (int64_t i = 0; i < dx_.numel(); ++i) dx_[i] += dx_noise[i];
  }
  return dx_;
}

// A gradient dh of token t's score for expert e: h = z (+ eps * softplus(noise logit) in noisy
// training), so it reaches the clean logit and the noise network.
void Router::add_dscore(int64_t t, int64_t e, float dh) {
  const int64_t i = t * opt_.num_experts + e;
  dlogits_[i] += dh;
  if (noisy_now_) dnoise_[i] += dh * eps_[i] * sigmoid((*noise_logits_)[i]);
}

void Router::collect_parameters(std::vector<Parameter*>& out) {
  gate.collect_parameters(out);
  if (noise) noise->collect_parameters(out);
}

}  // namespace peer
