// The hooks the freeze-and-add ladder of lifelong streams uses (experiments/lifelong/methods.h):
// BatchNorm with fixed running statistics, oracle routing to one pool, and new pools' keys at the
// trained keys' scale.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "core/nn/batchnorm.h"
#include "experiments/run/config.h"
#include "experiments/run/model_factory.h"
#include "experiments/run/pools.h"
#include "peer/peer_layer.h"
#include "tests/peer_layer_setup.h"

using namespace peer;
using namespace peer::gradcheck;

namespace {

TEST_CASE("lifelong hooks: fixed BatchNorm statistics stay bit-identical and normalise in training", "[lifelong]") {
  const int64_t N = 12, F = 5;
  BatchNorm1d bn("bn", F);
  fill_normal(bn.running_mean.value, 3, 1, 0.5f);
  fill_normal(bn.running_var.value, 3, 2, 0.2f, 1.0f);
  fill_normal(bn.weight.value, 3, 3, 0.3f, 1.0f);
  const Tensor mean0 = bn.running_mean.value.clone(), var0 = bn.running_var.value.clone();

  // Without fixed statistics a training forward moves them (so this test can fail).
  BatchNorm1d moving("moving", F);
  moving.forward(random_tensor({N, F}, 3, 9), true);
  CHECK_FALSE(same_bits(moving.running_mean.value, Tensor(std::vector<int64_t>{F})));

  bn.fixed_stats = true;
  for (uint64_t b = 0; b < 4; ++b) {
    const Tensor x = random_tensor({N, F}, 3, 10 + b);
    const Tensor y_train = bn.forward(x, true).clone();
    CHECK(same_bits(bn.running_mean.value, mean0));
    CHECK(same_bits(bn.running_var.value, var0));
    // training normalises with the running statistics, as evaluation does
    CHECK(same_bits(y_train, bn.forward(x, false)));
  }
  // With fixed statistics y is affine in x: dx = weight * rstd * dy, and the scale and shift
  // still get their gradients.
  const Tensor x = random_tensor({N, F}, 3, 20), dy = random_tensor({N, F}, 3, 21);
  bn.weight.grad.fill(0.0f);
  bn.bias.grad.fill(0.0f);
  bn.forward(x, true);
  const Tensor& dx = bn.backward(dy);
  for (int64_t i = 0; i < N; ++i)
    for (int64_t f = 0; f < F; ++f) {
      const float rstd = 1.0f / std::sqrt(var0[f] + 1e-5f);
      CHECK(dx[i * F + f] == Approx(bn.weight.value[f] * rstd * dy[i * F + f]).epsilon(1e-5));
    }
  double db0 = 0.0;
  for (int64_t i = 0; i < N; ++i) db0 += dy[i * F];
  CHECK(bn.bias.grad[0] == Approx(db0).epsilon(1e-5));
}

TEST_CASE("lifelong hooks: oracle routing retrieves from the chosen pool only", "[lifelong]") {
  const int64_t d = 8, T = 16, k = 4;
  PeerLayer L("peer", d, options(2, k, 4, Activation::GELU, true), {4, 5}, InitScheme::Kaiming, 5);
  L.add_pool({6, 4});
  L.add_pool({5, 5});
  const int64_t begin[] = {0, 20, 44}, end[] = {20, 44, 69};
  const Tensor x = random_tensor({T, d}, 5, 1);
  std::vector<bool> seen(3, false);
  L.forward(x, false, 0);
  for (int32_t g : L.retrieved())
    for (int p = 0; p < 3; ++p) seen[p] = seen[p] || (g >= begin[p] && g < end[p]);
  CHECK((seen[0] && seen[1] && seen[2]));  // learned routing uses every pool
  for (int64_t pool = 0; pool < 3; ++pool)
    for (bool train : {true, false}) {
      INFO("pool " << pool << (train ? " train" : " eval"));
      L.only_pool = pool;
      L.forward(x, train, 0);
      REQUIRE(int64_t(L.retrieved().size()) == T * 2 * k);
      for (int32_t g : L.retrieved()) {
        CHECK(g >= begin[pool]);
        CHECK(g < end[pool]);
      }
    }
}

TEST_CASE("lifelong hooks: a new pool's keys start at the trained keys' RMS", "[lifelong]") {
  Config c = parse_config("[model]\nn_embd = 16\nn_head = 2\nn_layer = 2\nblock_size = 8\nffn = \"peer\"\n"
                          "[peer]\nnum_experts = 64\nheads = 2\ntop_k = 4\nd_key = 8\n",
                          "test");
  auto rms = [](const std::vector<const Parameter*>& ps) {
    double s = 0.0;
    int64_t n = 0;
    for (const Parameter* p : ps)
      for (int64_t i = 0; i < p->value.numel(); ++i) s += double(p->value[i]) * p->value[i], ++n;
    return std::sqrt(s / double(n));
  };
  for (bool match : {false, true}) {
    auto model = build_model(c, 30);
    auto layers = peer_layers(*model);
    REQUIRE(layers.size() == 2);
    for (auto& [name, layer] : layers)  // "trained" keys: 3x their initial scale
      for (Parameter* k : {&layer->pools[0]->keys1, &layer->pools[0]->keys2})
        for (int64_t i = 0; i < k->value.numel(); ++i) k->value[i] *= 3.0f;
    GrowOptions g{{8, 8}, true};
    g.match_key_scale = match;
    grow_pools(*model, g);
    for (auto& [name, layer] : layers) {
      const double old_rms = rms({&layer->pools[0]->keys1, &layer->pools[0]->keys2});
      const double new_rms = rms({&layer->pools[1]->keys1, &layer->pools[1]->keys2});
      INFO(name << " match " << match << ": old " << old_rms << " new " << new_rms);
      if (match) CHECK(new_rms == Approx(old_rms).epsilon(1e-5));
      else CHECK(new_rms < old_rms / 2.0);
    }
  }
}

}  // namespace
