// Row-sparse AdamW (core/optim/adamw.h) on PEER's expert tables: lazy mode moves only the touched
// rows and their moments; dense and lazy modes against hand-written Adam; the bias correction of
// a row first touched late.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "core/optim/adamw.h"
#include "gradcheck.h"
#include "peer/peer_layer.h"
#include "tests/peer_layer_setup.h"

using namespace peer;
using namespace peer::gradcheck;

TEST_CASE("lazy row-sparse AdamW moves only the touched rows of U and their moments", "[peer][adamw]") {
  const int64_t d = 8, T = 6, H = 2, k = 4, N = 16 * 16;
  PeerLayer L("peer", d, options(H, k, 8, Activation::GELU, true), {16, 16}, InitScheme::Kaiming, 91);
  Parameter& U = L.pools[0]->U;
  U.decay = true;  // decay too must touch only the gradient's rows
  AdamWOptions ao;
  ao.lazy_sparse = true;
  ao.weight_decay = 0.1f;
  AdamW adam({&U}, ao);
  AdamW::Moments& st = adam.state().at(U.name);
  std::set<int32_t> ever;
  for (uint64_t step = 0; step < 3; ++step) {
    Tensor x = random_tensor({T, d}, 91, 10 + step), r = random_tensor({T, d}, 91, 20 + step);
    L.forward(x, true, step);
    L.zero_grad();
    L.backward(r);
    const std::vector<int32_t> touched = U.sparse_grad.rows;
    REQUIRE(!touched.empty());
    REQUIRE(int64_t(touched.size()) < N);
    int64_t untouched_with_state = 0;
    for (int64_t row = 0; row < N; ++row)
      if (ever.count(int32_t(row)) && !std::binary_search(touched.begin(), touched.end(), int32_t(row)))
        ++untouched_with_state;
    if (step > 0) REQUIRE(untouched_with_state > 0);  // rows whose m, v are nonzero but get no gradient
    Tensor w0 = U.value.clone(), m0 = st.m.clone(), v0 = st.v.clone();
    adam.step(1e-2f);
    int64_t moved_untouched = 0, still_touched = 0;
    for (int64_t row = 0; row < N; ++row) {
      const int64_t o = row * d;
      const bool same = same_bits(U.value.data() + o, w0.data() + o, d) && same_bits(st.m.data() + o, m0.data() + o, d) &&
                        same_bits(st.v.data() + o, v0.data() + o, d);
      if (std::binary_search(touched.begin(), touched.end(), int32_t(row))) {
        still_touched += same_bits(U.value.data() + o, w0.data() + o, d) || same_bits(st.v.data() + o, v0.data() + o, d);
      } else {
        moved_untouched += !same;
      }
    }
    INFO("step " << step + 1 << ": " << touched.size() << " touched rows");
    CHECK(moved_untouched == 0);
    CHECK(still_touched == 0);
    ever.insert(touched.begin(), touched.end());
  }
  CHECK(adam.steps() == 3);
}

TEST_CASE("row-sparse AdamW: dense mode equals hand-written dense Adam, lazy mode equals hand-written lazy Adam",
          "[peer][adamw]") {
  const int64_t rows = 6, w = 3;
  const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.1f;
  // Touched rows per step; row 3 is never touched, row 0 first at step 2.
  const std::vector<std::vector<int32_t>> touched = {{1, 4}, {0, 4}, {2, 5}};
  auto grad_of = [&](size_t step, int32_t row, int64_t j) {
    return Philox(7, 900 + step).normal(uint64_t(row * w + j));
  };
  for (bool lazy : {false, true}) {
    Parameter P = Parameter::row_sparse("table", {rows, w}, true);
    fill_normal(P.value, 7, 1);
    AdamWOptions ao;
    ao.beta1 = b1;
    ao.beta2 = b2;
    ao.eps = eps;
    ao.weight_decay = wd;
    ao.lazy_sparse = lazy;
    AdamW adam({&P}, ao);
    std::vector<double> W(P.value.data(), P.value.data() + rows * w), M(rows * w, 0.0), Vv(rows * w, 0.0);
    const std::vector<double> W0 = W;
    for (size_t s = 0; s < touched.size(); ++s) {
      P.sparse_grad.clear();
      Tensor vals({int64_t(touched[s].size()), w});
      for (size_t i = 0; i < touched[s].size(); ++i)
        for (int64_t j = 0; j < w; ++j) vals[int64_t(i) * w + j] = grad_of(s, touched[s][i], j);
      P.sparse_grad.accumulate(touched[s], vals);
      adam.step(lr);
      // Hand-written Adam in double on the densified gradient; lazy skips rows without one.
      const double t = double(s + 1), c1 = 1.0 / (1.0 - std::pow(double(b1), t)),
                   c2 = 1.0 / (1.0 - std::pow(double(b2), t));
      for (int32_t row = 0; row < rows; ++row) {
        const bool has = std::count(touched[s].begin(), touched[s].end(), row) > 0;
        if (lazy && !has) continue;
        for (int64_t j = 0; j < w; ++j) {
          const int64_t e = row * w + j;
          const double g = has ? grad_of(s, row, j) : 0.0;
          M[e] = b1 * M[e] + (1.0 - b1) * g;
          Vv[e] = b2 * Vv[e] + (1.0 - b2) * g * g;
          W[e] -= lr * (M[e] * c1 / (std::sqrt(Vv[e] * c2) + eps) + wd * W[e]);
        }
      }
      // Tolerance: float32 against double over 3 steps; an update is ~lr = 1e-2, a missed
      // moment decay or a wrong bias correction moves a weight by > 1e-4.
      const auto& st = adam.state().at("table");
      double worst = 0.0;
      for (int64_t e = 0; e < rows * w; ++e) {
        worst = std::max(worst, std::fabs(P.value[e] - W[e]) - (1e-6 + 1e-6 * std::fabs(W[e])));
        worst = std::max(worst, std::fabs(st.m[e] - M[e]) - (1e-7 + 1e-5 * std::fabs(M[e])));
        worst = std::max(worst, std::fabs(st.v[e] - Vv[e]) - (1e-9 + 1e-5 * std::fabs(Vv[e])));
      }
      INFO((lazy ? "lazy" : "dense") << " step " << s + 1 << ": worst excess over tolerance " << worst);
      CHECK(worst <= 0.0);
    }
    const auto& st = adam.state().at("table");
    if (lazy) {
      // Row 3 was never touched: weights bit-identical, moments exactly 0.
      for (int64_t j = 0; j < w; ++j) {
        CHECK(P.value[3 * w + j] == float(W0[3 * w + j]));
        CHECK(st.m[3 * w + j] == 0.0f);
        CHECK(st.v[3 * w + j] == 0.0f);
      }
    } else {
      // Dense: row 1 (touched only at step 1) kept decaying: m = b1^2 (1-b1) g1, v = b2^2 (1-b2) g1^2.
      const double g1 = grad_of(0, 1, 0);
      CHECK(st.m[1 * w] == Approx(b1 * b1 * (1.0 - b1) * g1).epsilon(1e-5));
      CHECK(st.v[1 * w] == Approx(b2 * b2 * (1.0 - b2) * g1 * g1).epsilon(1e-5));
    }
  }
}

TEST_CASE("lazy AdamW by hand: a row first touched at step 2 uses the global step's bias correction",
          "[peer][adamw]") {
  const float lr = 1e-2f, b1 = 0.9f, b2 = 0.999f, eps = 1e-8f, wd = 0.1f;
  Parameter P = Parameter::row_sparse("table", {4, 2}, true);
  for (int64_t i = 0; i < 8; ++i) P.value[i] = 0.5f + 0.25f * float(i);
  AdamWOptions ao;
  ao.lazy_sparse = true;
  ao.weight_decay = wd;
  AdamW adam({&P}, ao);
  Tensor g1({1, 2}), g2({1, 2});
  g1[0] = 1.0f, g1[1] = -2.0f;
  g2[0] = 0.3f, g2[1] = -0.7f;
  P.sparse_grad.accumulate({1}, g1);  // step 1 touches row 1 only
  adam.step(lr);
  P.sparse_grad.clear();
  P.sparse_grad.accumulate({2}, g2);  // step 2 touches row 2 only
  const float w0 = P.value[2 * 2 + 0];
  adam.step(lr);
  // Element (2, 0): m = (1-b1) g, v = (1-b2) g^2 (first update of this row); bias correction
  // with t = 2: m_hat = m / (1 - b1^2), v_hat = v / (1 - b2^2);
  // w <- w - lr * (m_hat / (sqrt(v_hat) + eps) + wd * w).
  const double g = 0.3, m = (1.0 - b1) * g, v = (1.0 - b2) * g * g;
  const double m_hat = m / (1.0 - double(b1) * b1), v_hat = v / (1.0 - double(b2) * b2);
  const double expect = w0 - lr * (m_hat / (std::sqrt(v_hat) + eps) + wd * w0);
  CHECK(P.value[4] == Approx(expect).epsilon(1e-6));
  CHECK(adam.state().at("table").m[4] == Approx(m).epsilon(1e-6));
  CHECK(adam.state().at("table").v[4] == Approx(v).epsilon(1e-6));
  // A per-row step count (t = 1 for this row) would give m_hat/sqrt(v_hat) = 1: a different value.
  const double per_row = w0 - lr * (1.0 + wd * w0);
  CHECK(std::fabs(P.value[4] - per_row) > 1e-3);
  // Rows 0 and 3 never touched, row 1 not touched at step 2: unchanged since their last step.
  CHECK(P.value[0] == 0.5f);
  CHECK(P.value[6] == 2.0f);
}
