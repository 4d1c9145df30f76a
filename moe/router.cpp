#include "moe/router.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <stdexcept>

#include "core/ops/add.h"
#include "core/rng.h"

namespace peer {

RouterKind parse_router(const std::string& name) {
  if (name == "topk") return RouterKind::TopK;
  if (name == "noisy_topk") return RouterKind::NoisyTopK;
  if (name == "switch") return RouterKind::Switch;
  throw std::invalid_argument("[router] unknown router '" + name + "' (expected topk, noisy_topk or switch)");
}

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
  const int64_t N = x.dim(0), E = opt_.num_experts, k = opt_.top_k;
  const Device dev = x.device();
  s_.logits = &gate.forward(x);
  s_.scores.copy_from(*s_.logits);
  s_.noisy = opt_.kind == RouterKind::NoisyTopK && train;
  if (s_.noisy) {
    s_.noise_logits = &noise->forward(x);
    if (!fixed_noise_.empty()) {
      if (int64_t(fixed_noise_.size()) < N * E) throw std::invalid_argument("[router] fixed noise shorter than N * E");
      Tensor eps({N, E});
      std::copy_n(fixed_noise_.begin(), N * E, eps.data());
      s_.eps = eps.to(dev);
    }
  }
  s_.probs.resize({N, E}, dev);
  s_.lse.resize({N}, dev);
  s_.choice_stats.resize({2 * E + 3}, dev, DType::F64);
  routing_.tokens = N;
  routing_.k = k;
  routing_.expert.resize({N * k}, dev, DType::I32);
  routing_.gate.resize({N * k}, dev);
  if (dev == Device::CUDA) {
    cuda::router_forward(opt_, seed_, stream_, step, fixed_noise_.empty(), s_, routing_);
    return routing_;
  }
  if (s_.noisy) {
    if (fixed_noise_.empty()) draw_noise(N * E, step);
    float* h = s_.scores.data();
    const float *eps = s_.eps.data(), *nl = s_.noise_logits->data();
#pragma omp parallel for schedule(static) if (N * E >= 2048)
    for (int64_t i = 0; i < N * E; ++i) h[i] += eps[i] * router_softplus(nl[i]);
  }
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < N; ++t) {
    s_.lse.data()[t] = router_softmax(s_.logits->data() + t * E, E, s_.probs.data() + t * E);
    router_select(opt_, s_.scores.data() + t * E, s_.probs.data() + t * E, routing_.expert.data_i32() + t * k,
                  routing_.gate.data() + t * k);
  }
  compute_aux(N);
  return routing_;
}

// eps_i = Philox normal at offset (step << 32) + i, four per Box-Muller block.
void Router::draw_noise(int64_t n, uint64_t step) {
  s_.eps.resize({n / opt_.num_experts, opt_.num_experts}, Device::CPU);
  float* eps = s_.eps.data();
  const Philox rng(seed_, stream_);
#pragma omp parallel for schedule(static) if (n >= 2048)
  for (int64_t i = 0; i < n; i += 4) {
    const std::array<float, 4> z = rng.normal4(((step << 32) + uint64_t(i)) >> 2);
    std::copy_n(z.begin(), std::min<int64_t>(4, n - i), eps + i);
  }
}

void Router::compute_aux(int64_t N) {
  const int64_t E = opt_.num_experts, k = opt_.top_k;
  double* f = s_.choice_stats.data_f64();
  double* importance = f + E;
  double* aux = f + 2 * E;
  const int32_t* expert = routing_.expert.data_i32();
  const float* gates = routing_.gate.data();
  const float* probs = s_.probs.data();
  std::fill(f, f + 2 * E + 3, 0.0);
  for (int64_t a = 0; a < N * k; ++a) {
    f[expert[a]] += 1.0 / double(N * k);
    importance[expert[a]] += gates[a];
  }
  if (opt_.load_balance_coef > 0.0f) {
    for (int64_t e = 0; e < E; ++e) {
      double mean_p = 0.0;
      for (int64_t t = 0; t < N; ++t) mean_p += probs[t * E + e];
      aux[0] += f[e] * mean_p / double(N);
    }
    aux[0] *= opt_.load_balance_coef * double(E);
  }
  if (opt_.importance_coef > 0.0f) {
    double mu, var;
    importance_moments(importance, E, mu, var);
    aux[1] = opt_.importance_coef * var / (mu * mu);
  }
  if (opt_.z_loss_coef > 0.0f) {
    const float* lse = s_.lse.data();
    for (int64_t t = 0; t < N; ++t) aux[2] += double(lse[t]) * lse[t];
    aux[2] *= opt_.z_loss_coef / double(N);
  }
}

AuxLosses Router::aux() const {
  if (s_.choice_stats.empty()) return {};
  const Tensor stats = s_.choice_stats.to(Device::CPU);
  const double* a = stats.data_f64() + 2 * opt_.num_experts;
  return {a[0], a[1], a[2]};
}

const Tensor& Router::backward(const Tensor& dgate) {
  const int64_t N = routing_.tokens, E = opt_.num_experts, k = opt_.top_k;
  const Device dev = dgate.device();
  dlogits_.resize({N, E}, dev);
  dlogits_.zero();
  if (s_.noisy) {
    dnoise_.resize({N, E}, dev);
    dnoise_.zero();
  }
  if (dev == Device::CUDA) {
    cuda::router_backward(opt_, dgate, s_, routing_, dlogits_, dnoise_);
  } else {
    const double* f = s_.choice_stats.data_f64();
    RouterTokenGrad t{};
    t.tokens = N;
    t.f = f;
    t.importance = f + E;
    if (opt_.importance_coef > 0.0f) importance_moments(t.importance, E, t.mu, t.var);
    std::vector<float> dp(E);
    for (int64_t i = 0; i < N; ++i) {
      t.chosen = routing_.expert.data_i32() + i * k;
      t.g = routing_.gate.data() + i * k;
      t.dgate = dgate.data() + i * k;
      t.p = s_.probs.data() + i * E;
      t.h = s_.scores.data() + i * E;
      t.lse = s_.lse.data()[i];
      t.eps = s_.noisy ? s_.eps.data() + i * E : nullptr;
      t.noise_logits = s_.noisy ? s_.noise_logits->data() + i * E : nullptr;
      router_token_backward(opt_, t, dp.data(), dlogits_.data() + i * E, s_.noisy ? dnoise_.data() + i * E : nullptr);
    }
  }
  dx_.copy_from(gate.backward(dlogits_));
  if (s_.noisy) add(dx_, noise->backward(dnoise_), dx_);
  return dx_;
}

void Router::collect_parameters(std::vector<Parameter*>& out) {
  gate.collect_parameters(out);
  if (noise) noise->collect_parameters(out);
}

}  // namespace peer
