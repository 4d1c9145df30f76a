// The router's CPU path runs the per-token functions of moe/router_math.h that the CUDA kernels
// run: its probabilities, log-sum-exp, choices, gates, noise and logit gradients equal, bit for
// bit, plain loops calling those functions.
#include <catch2/catch.hpp>

#include <cstring>

#include "core/gemm.h"
#include "core/rng.h"
#include "moe/router.h"
#include "tests/gradcheck.h"

using namespace peer;

namespace {

bool same_bits(const float* a, const float* b, int64_t n) { return std::memcmp(a, b, size_t(n) * sizeof(float)) == 0; }

}  // namespace

TEST_CASE("the CPU router runs router_math.h's per-token functions", "[moe]") {
  const auto kind = GENERATE(RouterKind::TopK, RouterKind::NoisyTopK, RouterKind::Switch);
  const int64_t k = GENERATE(as<int64_t>{}, 1, 3);
  if (kind == RouterKind::Switch && k != 1) return;
  const int64_t N = 45, d = 7, E = 6;
  RouterOptions o;
  o.kind = kind;
  o.num_experts = E;
  o.top_k = k;
  o.load_balance_coef = 0.1f;
  o.importance_coef = 0.1f;
  o.z_loss_coef = 0.01f;
  Router r("router", d, o, InitScheme::Kaiming, 3, 77);
  const Tensor x = gradcheck::random_tensor({N, d}, 3, 1);
  const uint64_t step = 5;
  const Routing& routing = r.forward(x, true, step);
  const RouterState& s = r.state();
  // Noise: philox_normal4 of block ((step << 32) + i) >> 2, word i % 4.
  Tensor h = s.logits->clone();
  if (kind == RouterKind::NoisyTopK) {
    std::vector<float> eps(N * E);
    for (int64_t i = 0; i < N * E; ++i) {
      float z[4];
      philox_normal4(philox_block(3, 77, ((step << 32) + uint64_t(i)) >> 2), z);
      eps[i] = z[i % 4];
      h[i] += eps[i] * router_softplus((*s.noise_logits)[i]);
    }
    CHECK(same_bits(eps.data(), s.eps.data(), N * E));
  }
  CHECK(same_bits(h.data(), s.scores.data(), N * E));
  std::vector<float> p(N * E), lse(N), gate(N * k);
  std::vector<int32_t> chosen(N * k);
  for (int64_t t = 0; t < N; ++t) {
    lse[t] = router_softmax(s.logits->data() + t * E, E, p.data() + t * E);
    router_select(o, h.data() + t * E, p.data() + t * E, chosen.data() + t * k, gate.data() + t * k);
  }
  CHECK(same_bits(p.data(), s.probs.data(), N * E));
  CHECK(same_bits(lse.data(), s.lse.data(), N));
  CHECK(same_bits(gate.data(), routing.gate.data(), N * k));
  CHECK(std::memcmp(chosen.data(), routing.expert.data_i32(), size_t(N * k) * 4) == 0);
  // Backward: dlogits of router_token_backward reach the gate layer; its weight gradient is
  // dlogits^T x, so equal dlogits give equal gradients.
  const Tensor dgate = gradcheck::random_tensor({N * k}, 3, 2);
  r.zero_grad();
  r.backward(dgate);
  const double* f = s.choice_stats.data_f64();
  std::vector<float> dz(N * E, 0.0f), dnoise(N * E, 0.0f), dp(E);
  RouterTokenGrad g{};
  g.tokens = N;
  g.f = f;
  g.importance = f + E;
  importance_moments(g.importance, E, g.mu, g.var);
  for (int64_t t = 0; t < N; ++t) {
    g.chosen = chosen.data() + t * k;
    g.g = gate.data() + t * k;
    g.dgate = dgate.data() + t * k;
    g.p = p.data() + t * E;
    g.h = h.data() + t * E;
    g.lse = lse[t];
    const bool noisy = kind == RouterKind::NoisyTopK;
    g.eps = noisy ? s.eps.data() + t * E : nullptr;
    g.noise_logits = noisy ? s.noise_logits->data() + t * E : nullptr;
    router_token_backward(o, g, dp.data(), dz.data() + t * E, noisy ? dnoise.data() + t * E : nullptr);
  }
  Tensor dw({E, d});
  gemm(true, false, E, d, N, 1.0f, dz.data(), E, x.data(), d, 1.0f, dw.data(), d);  // as linear_backward
  CHECK(same_bits(dw.data(), r.gate.weight.grad.data(), E * d));
}
