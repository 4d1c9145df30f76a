// MoE layer: sparse dispatch against the dense masking oracle, finite-difference gradients
// (router and aux losses included), and hand-computed capacity dropping.
#include <catch2/catch.hpp>
#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "core/rng.h"
#include "experiments/run/config.h"
#include "gradcheck.h"
#include "moe/sparse_moe.h"
#include "thread_guard.h"

using namespace peer;
using namespace peer::gradcheck;

namespace {

constexpr int64_t kTokens = 24, kDim = 8, kExperts = 6, kHidden = 5;

MoEOptions options(RouterKind kind, double cf, bool reference) {
  MoEOptions o;
  o.router.kind = kind;
  o.router.num_experts = kExperts;
  o.router.top_k = kind == RouterKind::Switch ? 1 : 2;
  o.router.load_balance_coef = 0.1f;
  o.router.importance_coef = 0.1f;
  o.router.z_loss_coef = 0.01f;
  o.d_expert = kHidden;
  o.activation = Activation::GELU;  // smooth: no kinks inside the experts
  o.capacity_factor = cf;
  o.masked_oracle = reference;
  return o;
}

// Router weights scaled up so that gates are far from uniform and top-k gaps are wide.
void sharpen(SparseMoE& m) {
  for (int64_t i = 0; i < m.router.gate.weight.value.numel(); ++i) m.router.gate.weight.value[i] *= 3.0f;
}

std::vector<float> fixed_noise(uint64_t seed, int64_t tokens = kTokens) {
  Tensor t = random_tensor({tokens, kExperts}, seed, 77);
  return copy_of(t);
}

std::vector<int32_t> ints(const Tensor& t) {
  const Tensor h = t.to(Device::CPU);
  return {h.data_i32(), h.data_i32() + h.numel()};
}

int64_t kept_rows(const DispatchPlan& p, int64_t e) { return p.offsets.data_i32()[e + 1] - p.offsets.data_i32()[e]; }

void check_close(const Tensor& a, const Tensor& b, double atol, double rtol, const std::string& what) {
  REQUIRE(a.numel() == b.numel());
  double worst = 0.0;
  for (int64_t i = 0; i < a.numel(); ++i) {
    double err = std::fabs(double(a[i]) - double(b[i]));
    worst = std::max(worst, err - (atol + rtol * std::fabs(double(b[i]))));
  }
  INFO(what << ": worst excess over tolerance " << worst);
  CHECK(worst <= 0.0);
}

}  // namespace

// 1500 tokens on 8 threads split the busiest experts into chunks (more than max(256, rows / 8)
// rows each: 375 for top-2, 256 for switch), so the chunked paths are compared too.
TEST_CASE("sparse MoE dispatch equals the dense masking oracle, outputs and every gradient", "[moe]") {
  auto kind = GENERATE(RouterKind::TopK, RouterKind::NoisyTopK, RouterKind::Switch);
  double cf = GENERATE(0.0, 0.6);  // dropless, and a capacity that drops
  uint64_t seed = GENERATE(11u, 12u);
  const int64_t tokens = GENERATE(as<int64_t>{}, kTokens, 1500);
  ThreadGuard threads(tokens > kTokens ? 8 : num_threads());
  SparseMoE fast("moe", kDim, options(kind, cf, false), InitScheme::Kaiming, seed, 5);
  SparseMoE slow("moe", kDim, options(kind, cf, true), InitScheme::Kaiming, seed, 5);
  sharpen(fast);
  sharpen(slow);
  if (kind == RouterKind::NoisyTopK) {
    fast.router.set_fixed_noise(fixed_noise(seed, tokens));
    slow.router.set_fixed_noise(fixed_noise(seed, tokens));
  }
  Tensor x = random_tensor({tokens, kDim}, seed, 1), dy = random_tensor({tokens, kDim}, seed, 2);
  const Tensor& yf = fast.forward(x, true, 0);
  const Tensor& ys = slow.forward(x, true, 0);
  if (cf > 0.0) CHECK(dropped(fast.plan()) > 0);
  int64_t most = 0;
  for (int64_t e = 0; e < kExperts; ++e) most = std::max(most, kept_rows(fast.plan(), e));
  if (tokens > kTokens && cf == 0.0) CHECK(most > 375);
  // Tolerance: float32 sums in different orders over d_expert = 5 and k = 2 terms.
  const double atol = 1e-5, rtol = 1e-4;
  check_close(yf, ys, atol, rtol, "output");
  CHECK(fast.aux_loss() == Approx(slow.aux_loss()).epsilon(1e-6));
  fast.zero_grad();
  slow.zero_grad();
  Tensor dxf = fast.backward(dy).clone();
  const Tensor& dxs = slow.backward(dy);
  check_close(dxf, dxs, atol, rtol, "dx");
  auto pf = fast.parameters(), ps = slow.parameters();
  REQUIRE(pf.size() == ps.size());
  for (size_t i = 0; i < pf.size(); ++i) check_close(pf[i]->grad, ps[i]->grad, atol, rtol, pf[i]->name);
}

TEST_CASE("sparse MoE outputs and gradients are bit-identical on 1 and 8 threads", "[moe]") {
  // 1500 tokens: on 8 threads the busiest experts are split into chunks, on 1 thread none is.
  const int64_t tokens = 1500;
  Tensor x = random_tensor({tokens, kDim}, 21, 1), dy = random_tensor({tokens, kDim}, 21, 2);
  auto run = [&](int threads, std::vector<std::vector<float>>& out) {
    ThreadGuard guard(threads);
    SparseMoE m("moe", kDim, options(RouterKind::NoisyTopK, 0.0, false), InitScheme::Kaiming, 21, 5);
    sharpen(m);
    out.push_back(copy_of(m.forward(x, true, 3)));
    int64_t most = 0;
    for (int64_t e = 0; e < kExperts; ++e) most = std::max(most, kept_rows(m.plan(), e));
    CHECK(most > 375);  // split on 8 threads
    m.zero_grad();
    out.push_back(copy_of(m.backward(dy)));
    for (Parameter* p : m.parameters()) out.push_back(copy_of(p->grad));
  };
  std::vector<std::vector<float>> one, eight;
  run(1, one);
  run(8, eight);
  CHECK(one == eight);
}

TEST_CASE("each aux loss alone matches finite differences through the router", "[moe][grad]") {
  int which = GENERATE(0, 1, 2);
  MoEOptions o = options(RouterKind::TopK, 0.0, false);
  o.router.load_balance_coef = which == 0 ? 1.0f : 0.0f;
  o.router.importance_coef = which == 1 ? 1.0f : 0.0f;
  o.router.z_loss_coef = which == 2 ? 1.0f : 0.0f;
  SparseMoE m("moe", kDim, o, InitScheme::Kaiming, 31, 5);
  sharpen(m);
  Tensor x = random_tensor({kTokens, kDim}, 31, 1);
  Tensor zero({kTokens, kDim});
  auto loss = [&] {
    m.forward(x, true, 0);
    return m.aux_loss();
  };
  auto kinks = [&] {
    const std::vector<int32_t> e = ints(m.router.forward(x, true, 0).expert);
    return std::vector<uint8_t>(e.begin(), e.end());
  };
  REQUIRE(loss() > 0.0);
  m.zero_grad();
  m.backward(zero);  // only the aux gradient flows
  Options opt;
  opt.atol = 1e-4;
  opt.rtol = 2e-2;
  opt.kinks = kinks;
  REQUIRE_GRAD_OK(check_param(m.router.gate.weight, loss, opt));
  REQUIRE_GRAD_OK(check_param(m.router.gate.bias, loss, opt));
}

TEST_CASE("capacity drops exactly the lowest-priority token and it passes by the residual", "[moe]") {
  // Switch router, 2 experts, identity router weights: logits = x. Tokens 0, 1, 2 choose expert
  // 0 with probabilities 0.90, 0.60, 0.80; token 3 chooses expert 1. Capacity = ceil(1.0 * 4 * 1
  // / 2) = 2, so expert 0 keeps tokens 0 and 2 (highest gates) and drops token 1.
  MoEOptions o;
  o.router.kind = RouterKind::Switch;
  o.router.num_experts = 2;
  o.router.top_k = 1;
  o.router.load_balance_coef = o.router.importance_coef = o.router.z_loss_coef = 0.0f;
  o.d_expert = 3;
  o.capacity_factor = 1.0;
  o.eval_capacity_factor = 1.0;
  SparseMoE m("moe", 2, o, InitScheme::Kaiming, 1, 5);
  float w[] = {1, 0, 0, 1};
  std::copy(w, w + 4, m.router.gate.weight.value.data());
  m.router.gate.bias.value.zero();
  Tensor x({4, 2});
  float xs[] = {2.1972246f, 0, 0.4054651f, 0, 1.3862944f, 0, 0, 1};  // log(9), log(1.5), log(4)
  std::copy(xs, xs + 8, x.data());
  const Tensor& y = m.forward(x, false, 0);
  const Routing& r = m.router.forward(x, false, 0);
  CHECK(r.gate[0] == Approx(0.9f));
  CHECK(r.gate[1] == Approx(0.6f));
  CHECK(r.gate[2] == Approx(0.8f));
  m.forward(x, false, 0);
  CHECK(expert_capacity(1.0, 4, 1, 2) == 2);
  CHECK(dropped(m.plan()) == 1);
  CHECK(ints(m.plan().row_of) == std::vector<int32_t>{0, -1, 1, 2});
  // The dropped token gets no MoE output: x + moe(x) = x through the block's residual.
  CHECK(y[2] == 0.0f);
  CHECK(y[3] == 0.0f);
  CHECK((y[0] != 0.0f || y[1] != 0.0f));
}

TEST_CASE("noisy top-k draws eps_i as the Philox normal at offset (step << 32) + i", "[moe]") {
  RouterOptions o = options(RouterKind::NoisyTopK, 0.0, false).router;
  const int64_t tokens = 37;  // N * E = 222: not a multiple of the 4 normals per block
  Router drawn("r", kDim, o, InitScheme::Kaiming, 3, 9), given("r", kDim, o, InitScheme::Kaiming, 3, 9);
  const uint64_t step = 6;
  const Philox rng(3, 9);
  std::vector<float> eps(size_t(tokens * kExperts));
  for (size_t i = 0; i < eps.size(); ++i) eps[i] = rng.normal((step << 32) + i);
  given.set_fixed_noise(eps);
  Tensor x = random_tensor({tokens, kDim}, 4, 1);
  const Routing a = drawn.forward(x, true, step);
  const Routing b = given.forward(x, true, step);
  CHECK(ints(a.expert) == ints(b.expert));
  CHECK(copy_of(a.gate) == copy_of(b.gate));
}

TEST_CASE("bad MoE configs are refused naming the key", "[moe][config]") {
  auto expect = [](const std::string& toml, const std::string& key) {
    try {
      parse_config(toml, "test.toml");
      FAIL("accepted: " << toml);
    } catch (const InputError& e) {
      CHECK_THAT(e.what(), Catch::Contains(key));
    }
  };
  expect("[moe]\nnum_experts = 4\ntop_k = 5\n", "moe.top_k");
  expect("[moe]\nnum_experts = 0\n", "moe.num_experts");
  expect("[moe]\ncapacity_factor = -1.0\n", "moe.capacity_factor");
  expect("[moe]\nrouter = \"hash\"\n", "moe.router");
  expect("[moe]\nrouter = \"switch\"\ntop_k = 2\n", "moe.top_k");
}

// With one expert kept, a softmax over the kept logit alone would be 1 for every token, and the
// task loss would give the router no gradient (only the aux losses would train it).
TEST_CASE("top-1 topk and noisy_topk gates are softmax probabilities, so the task loss trains the router", "[moe]") {
  for (RouterKind kind : {RouterKind::TopK, RouterKind::NoisyTopK}) {
    RouterOptions o;
    o.kind = kind;
    o.num_experts = kExperts;
    o.top_k = 1;
    o.load_balance_coef = o.importance_coef = o.z_loss_coef = 0.0f;
    Router r("router", kDim, o, InitScheme::Kaiming, 41, kStreamLayer);
    Tensor x = random_tensor({kTokens, kDim}, 41, 1);
    const Routing& routing = r.forward(x, true, 0);
    for (float g : copy_of(routing.gate)) {
      CHECK(g > 1.0f / kExperts);  // the top score's softmax probability...
      CHECK(g < 1.0f);             // ...which is never all of it
    }
    if (kind == RouterKind::TopK)  // without noise, the same probability the switch router gives
      for (int64_t t = 0; t < kTokens; ++t)
        CHECK(routing.gate[t] == Approx(r.probs()[t * kExperts + routing.expert.data_i32()[t]]).epsilon(1e-6));
    r.zero_grad();
    Tensor dgate({kTokens});
    dgate.fill(1.0f);
    r.backward(dgate);
    double norm = 0.0;
    for (int64_t i = 0; i < r.gate.weight.grad.numel(); ++i) norm += std::fabs(r.gate.weight.grad[i]);
    CHECK(norm > 1e-3);
  }
}
