// Expert pools of the PEER layer (peer/expert_pool.h): retrieval over several pools against brute
// force over their concatenation, and a frozen pool (no gradient rows, no optimizer state, dx
// still right).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#include "core/optim/adamw.h"
#include "gradcheck.h"
#include "peer/peer_layer.h"
#include "peer/product_keys.h"
#include "tests/peer_layer_setup.h"
#include "thread_guard.h"

using namespace peer;
using namespace peer::gradcheck;

namespace {

// The dense gradient of a row-sparse parameter: its sparse_grad rows, zero elsewhere.
std::vector<float> densify(const Parameter& p) {
  const int64_t w = p.value.dim(1);
  std::vector<float> g(p.value.numel(), 0.0f);
  for (size_t r = 0; r < p.sparse_grad.rows.size(); ++r)
    std::copy(p.sparse_grad.values.data() + int64_t(r) * w, p.sparse_grad.values.data() + int64_t(r + 1) * w,
              g.data() + int64_t(p.sparse_grad.rows[r]) * w);
  return g;
}

// The retrieval of the last forward as a byte pattern (for gradcheck's kinks option), plus the
// sign of u . x of each retrieved expert under ReLU. A perturbation that changes either changes
// a discrete choice, where a finite difference means nothing.
std::vector<uint8_t> retrieval_pattern(PeerLayer& L, const Tensor& x, Activation act, int64_t per_token) {
  std::vector<uint8_t> out;
  const auto& g = L.retrieved();
  for (int32_t i : g) {
    uint8_t b[4];
    std::memcpy(b, &i, 4);
    out.insert(out.end(), b, b + 4);
  }
  if (act == Activation::ReLU) {
    const int64_t d = x.dim(1);
    for (size_t a = 0; a < g.size(); ++a) {
      int64_t l = g[a];
      size_t p = 0;
      while (l >= L.pools[p]->shape.size()) l -= L.pools[p++]->shape.size();
      const int64_t t = int64_t(a) / per_token;
      float pre = 0.0f;
      for (int64_t i = 0; i < d; ++i) pre += L.pools[p]->U.value[l * d + i] * x[t * d + i];
      out.push_back(pre > 0.0f);
    }
  }
  return out;
}

}  // namespace

TEST_CASE("retrieval over several pools equals brute force over their concatenation", "[peer][pools]") {
  const int64_t d = 8, T = 16, H = 2, k = 5, dk = 4, half = dk / 2;
  const PeerOptions o = options(H, k, dk, Activation::GELU, true);
  PeerLayer L("peer", d, o, {4, 5}, InitScheme::Kaiming, 71);
  CHECK(L.add_pool({3, 7}) == 1);
  CHECK(L.add_pool({6, 2}) == 2);
  REQUIRE(L.num_experts() == 20 + 21 + 12);
  Tensor x = random_tensor({T, d}, 71, 1);
  L.forward(x, true, 0);
  // The same float queries the layer used (same modules, same input), then every pool's float
  // sub-scores from the one shared kernel over all Q = T*H <= 64 rows, as retrieval computes
  // them, so scores compare bit for bit.
  Tensor q = L.query.forward(x).clone();
  q = L.query_bn->forward(q, true).clone();
  const int64_t Q = T * H;
  REQUIRE(Q <= 64);
  std::vector<std::vector<std::pair<float, int64_t>>> all(Q);
  int64_t offset = 0;
  for (auto& pool : L.pools) {
    const int64_t n1 = pool->shape.n1, n2 = pool->shape.n2;
    REQUIRE(pool->keys().half == half);
    std::vector<float> s1(Q * n1), s2(Q * n2);
    sub_scores(q.data(), Q, dk, pool->keys(), s1.data(), s2.data());
    for (int64_t r = 0; r < Q; ++r)
      for (int64_t a = 0; a < n1; ++a)
        for (int64_t b = 0; b < n2; ++b) all[r].emplace_back(s1[r * n1 + a] + s2[r * n2 + b], offset + a * n2 + b);
    offset += n1 * n2;
  }
  std::vector<int32_t> index;
  std::vector<float> score;
  std::vector<int64_t> per_pool(3, 0);
  for (int64_t r = 0; r < Q; ++r) {
    std::sort(all[r].begin(), all[r].end(), [](const auto& a, const auto& b) {
      return a.first > b.first || (a.first == b.first && a.second < b.second);
    });
    for (int64_t j = 0; j < k; ++j) {
      index.push_back(int32_t(all[r][j].second));
      score.push_back(all[r][j].first);
      per_pool[all[r][j].second < 20 ? 0 : all[r][j].second < 41 ? 1 : 2]++;
    }
  }
  CHECK(L.retrieved() == index);
  CHECK(L.scores() == score);
  INFO("retrievals per pool " << per_pool[0] << " " << per_pool[1] << " " << per_pool[2]);
  for (int64_t c : per_pool) CHECK(c > 0);  // every pool takes part
}

TEST_CASE("a frozen pool gets no gradient rows and no optimizer state, dx still matches finite differences",
          "[peer][pools][grad]") {
  ThreadGuard threads(1);  // thousands of tiny forwards: see ThreadGuard
  const int64_t d = 6, T = 10, H = 2, k = 3;
  const PeerOptions o = options(H, k, 4, Activation::GELU, true);
  PeerLayer L("peer", d, o, {4, 4}, InitScheme::Kaiming, 81);
  L.add_pool({3, 5});
  L.add_pool({5, 2});
  L.pools[1]->set_frozen(true);
  CHECK(L.pools[1]->frozen());
  randomise_bn(L, 81);
  Tensor x = random_tensor({T, d}, 81, 1), r = random_tensor({T, d}, 81, 2);
  auto loss = [&] { return project(L.forward(x, true, 0), r); };
  loss();
  int64_t in_frozen = 0;
  for (int32_t g : L.retrieved()) in_frozen += g >= 16 && g < 31;
  REQUIRE(in_frozen > 0);  // the frozen pool's experts are retrieved (and shape the output)
  L.zero_grad();
  std::vector<float> dx = copy_of(L.backward(r));
  for (Parameter* p : L.pools[1]->parameters()) {
    INFO(p->name);
    CHECK(p->sparse_grad.rows.empty());
    CHECK(!p->trainable());
  }
  for (size_t pi : {size_t(0), size_t(2)})
    for (Parameter* p : L.pools[pi]->parameters()) {
      INFO(p->name);
      CHECK(!p->sparse_grad.rows.empty());
    }
  std::vector<float> dU2 = densify(L.pools[2]->U);
  Options opt;
  opt.atol = 1e-3;
  opt.rtol = 1e-2;
  opt.eps = 3e-3f;
  opt.max_elements = 1 << 20;
  opt.kinks = [&] {
    L.forward(x, true, 0);
    return retrieval_pattern(L, x, Activation::GELU, H * k);
  };
  auto rx = check_input("x", x, dx, loss, opt);
  REQUIRE_GRAD_OK(rx);
  CHECK(rx.skipped * 4 <= rx.checked);
  REQUIRE_GRAD_OK(check(L.pools[2]->U.name, L.pools[2]->U.value.data(), dU2.data(), L.pools[2]->U.value.numel(),
                        loss, opt));
  // The optimizer keeps no state for the frozen pool and leaves it bit-identical.
  std::vector<Tensor> before;
  for (Parameter* p : L.pools[1]->parameters()) before.push_back(p->value.clone());
  loss();
  L.zero_grad();
  L.backward(r);
  AdamW adam(L.parameters(), AdamWOptions{});
  for (Parameter* p : L.pools[1]->parameters()) CHECK(adam.state().count(p->name) == 0);
  CHECK(adam.state().count(L.pools[0]->U.name) == 1);
  adam.step(1e-2f);
  auto frozen = L.pools[1]->parameters();
  for (size_t i = 0; i < frozen.size(); ++i) CHECK(same_bits(frozen[i]->value, before[i]));
}
