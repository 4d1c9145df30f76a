// The dense optimizer pieces (core/optim/): one AdamW step by hand, global-norm gradient
// clipping, and the learning-rate schedule.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include "core/module.h"
#include "core/optim/adamw.h"
#include "core/optim/schedule.h"

using namespace peer;

// ---- AdamW and clipping ---------------------------------------------------------------------

namespace {
Parameter make_param(const std::string& name, std::vector<float> value, std::vector<float> grad, bool decay) {
  Parameter p(name, {int64_t(value.size())}, decay);
  for (size_t i = 0; i < value.size(); ++i) {
    p.value[int64_t(i)] = value[i];
    p.grad[int64_t(i)] = grad[i];
  }
  return p;
}
}  // namespace

TEST_CASE("AdamW: one step by hand, decoupled decay, no decay, frozen", "[adamw]") {
  AdamWOptions o;  // beta1 0.9, beta2 0.999, eps 1e-8
  o.weight_decay = 0.1f;
  const float lr = 0.1f;
  Parameter decayed = make_param("w", {1.0f, -2.0f, 0.5f}, {0.5f, -0.1f, 0.0f}, true);
  Parameter plain = make_param("b", {1.0f, -2.0f, 0.5f}, {0.5f, -0.1f, 0.0f}, false);
  Parameter frozen = make_param("f", {1.0f, -2.0f, 0.5f}, {0.5f, -0.1f, 0.0f}, true);
  frozen.frozen = true;
  AdamW opt({&decayed, &plain, &frozen}, o);
  CHECK(opt.state().count("w") == 1);
  CHECK(opt.state().count("f") == 0);  // frozen parameters get no state
  opt.step(lr);
  CHECK(opt.steps() == 1);
  // Step 1: m_hat = g, v_hat = g^2, so the Adam direction is g / (|g| + eps) = sign(g) (0 for
  // g = 0), and decoupled decay subtracts lr * wd * w:
  //   w = 1 - 0.1 * (1 + 0.1 * 1) = 0.89;  -2 - 0.1 * (-1 + 0.1 * -2) = -1.88;  0.5 - 0.1 * 0.05 = 0.495
  CHECK(decayed.value[0] == Approx(0.89).epsilon(1e-6));
  CHECK(decayed.value[1] == Approx(-1.88).epsilon(1e-6));
  CHECK(decayed.value[2] == Approx(0.495).epsilon(1e-6));  // decay acts even with a zero gradient
  //   no decay: 1 - 0.1 = 0.9;  -2 + 0.1 = -1.9;  0.5 (zero gradient)
  CHECK(plain.value[0] == Approx(0.9).epsilon(1e-6));
  CHECK(plain.value[1] == Approx(-1.9).epsilon(1e-6));
  CHECK(plain.value[2] == 0.5f);
  CHECK(frozen.value[0] == 1.0f);
  CHECK(frozen.value[1] == -2.0f);
  CHECK(frozen.value[2] == 0.5f);
  // Moments after step 1: m = (1 - beta1) g, v = (1 - beta2) g^2.
  CHECK(opt.state().at("w").m[0] == Approx(0.05).epsilon(1e-6));
  // (1 - 0.999f) is 0.00099998713 in float: relative error 1.3e-5, hence epsilon 1e-4.
  CHECK(opt.state().at("w").v[0] == Approx(0.00025).epsilon(1e-4));

  // Step 2 with a new gradient, against the formula evaluated in double.
  decayed.grad[0] = -0.3f;
  opt.step(lr);
  const double m = 0.9 * 0.05 + 0.1 * -0.3, v = 0.999 * 0.00025 + 0.001 * 0.09;
  const double mhat = m / (1 - 0.81), vhat = v / (1 - 0.999 * 0.999);
  const double w1 = 0.89;
  const double w2 = w1 - 0.1 * (mhat / (std::sqrt(vhat) + 1e-8) + 0.1 * w1);
  CHECK(decayed.value[0] == Approx(w2).epsilon(1e-5));
}

TEST_CASE("clip_grad_norm: global norm over non-frozen parameters", "[adamw]") {
  Parameter a = make_param("a", {0, 0}, {3.0f, 4.0f}, true);
  Parameter b = make_param("b", {0}, {12.0f}, true);
  Parameter f = make_param("f", {0}, {100.0f}, true);
  f.frozen = true;
  std::vector<Parameter*> ps = {&a, &b, &f};
  SECTION("below the limit: unchanged") {
    CHECK(clip_grad_norm(ps, 13.5) == Approx(13.0).epsilon(1e-12));
    CHECK(a.grad[0] == 3.0f);
    CHECK(b.grad[0] == 12.0f);
  }
  SECTION("max_norm <= 0: no clipping") {
    CHECK(clip_grad_norm(ps, 0.0) == Approx(13.0).epsilon(1e-12));
    CHECK(b.grad[0] == 12.0f);
  }
  SECTION("above the limit: scaled to max_norm") {
    CHECK(clip_grad_norm(ps, 6.5) == Approx(13.0).epsilon(1e-12));
    CHECK(a.grad[0] == Approx(1.5).epsilon(1e-6));
    CHECK(a.grad[1] == Approx(2.0).epsilon(1e-6));
    CHECK(b.grad[0] == Approx(6.0).epsilon(1e-6));
    CHECK(f.grad[0] == 100.0f);  // frozen: neither counted nor scaled
    CHECK(clip_grad_norm(ps, 0.0) == Approx(6.5).epsilon(1e-6));
  }
}

// ---- LrSchedule -----------------------------------------------------------------------------

TEST_CASE("LrSchedule: linear warmup then cosine to min_lr_ratio * lr", "[schedule]") {
  LrSchedule s;
  s.lr = 1e-3;
  s.warmup_steps = 10;
  s.total_steps = 110;
  s.min_lr_ratio = 0.1;
  CHECK(s.at(0) == Approx(1e-4));  // (step + 1) / warmup
  CHECK(s.at(4) == Approx(5e-4));
  CHECK(s.at(9) == Approx(1e-3));
  CHECK(s.at(10) == Approx(1e-3));                  // cosine starts at lr
  CHECK(s.at(60) == Approx(1e-3 * (0.1 + 0.9 * 0.5)));  // halfway
  CHECK(s.at(110) == Approx(1e-4));                 // ends at min_lr_ratio * lr
  CHECK(s.at(1000) == Approx(1e-4));                // and stays there
  for (int64_t t = 10; t < 110; ++t) CHECK(s.at(t + 1) <= s.at(t));
  for (int64_t t = 0; t < 9; ++t) CHECK(s.at(t + 1) > s.at(t));

  LrSchedule no_warmup = s;
  no_warmup.warmup_steps = 0;
  CHECK(no_warmup.at(0) == Approx(1e-3));
  CHECK(no_warmup.at(110) == Approx(1e-4));
}
