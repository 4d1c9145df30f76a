// plan_dispatch on the CPU against the plain statement of its rule (tests/moe_plan_reference.h),
// on random routings with many priority ties, dropless and with capacities that drop; and the
// dispatch and combine ops against plain loops.
#include <catch2/catch.hpp>

#include "moe/dispatch.h"
#include "tests/gradcheck.h"
#include "tests/moe_plan_reference.h"

using namespace peer;

TEST_CASE("plan_dispatch keeps and orders exactly what the capacity rule says", "[moe]") {
  int checked_drops = 0;
  for (int64_t E : {1, 3, 8, 64})
    for (int64_t k : {1, 2, 3})
      for (double cf : {0.0, 0.5, 1.0, 1.25})
        for (int levels : {0, 3}) {
          if (k > E) continue;
          const int64_t N = 97;
          const Routing r = test::tied_routing(N, E, k, levels, uint64_t(E * 100 + k * 10 + levels));
          const int64_t cap = expert_capacity(cf, N, k, E);
          const test::PlanReference want = test::reference_plan(r, E, cap);
          INFO("E=" << E << " k=" << k << " capacity_factor=" << cf << " gate levels=" << levels);
          CHECK(test::plan_mismatch(plan_dispatch(r, E, cap), want) == "");
          checked_drops += int(want.token.size()) < N * k;
        }
  CHECK(checked_drops > 10);  // the rule was exercised where it matters
}

TEST_CASE("dispatch_rows gathers token rows and combine_rows sums gate-weighted kept rows", "[moe]") {
  const int64_t N = 31, E = 5, k = 2, d = 6;
  const Routing r = test::tied_routing(N, E, k, 3, 7);
  const DispatchPlan p = plan_dispatch(r, E, expert_capacity(0.7, N, k, E));
  const Tensor x = gradcheck::random_tensor({N, d}, 3, 1);
  Tensor xg, y;
  dispatch_rows(x, p, xg);
  REQUIRE(xg.dim(0) == p.rows());
  for (int64_t row = 0; row < p.rows(); ++row)
    for (int64_t j = 0; j < d; ++j) CHECK(xg[row * d + j] == x[p.token.data_i32()[row] * d + j]);
  combine_rows(xg, &r.gate, p, k, y);
  for (int64_t t = 0; t < N; ++t)
    for (int64_t j = 0; j < d; ++j) {
      float want = 0.0f;
      for (int64_t s = 0; s < k; ++s)
        if (p.row_of.data_i32()[t * k + s] >= 0) want += r.gate[t * k + s] * x[t * d + j];
      CHECK(y[t * d + j] == Approx(want).margin(1e-6));
    }
}
