// The CPU paths of the activation, LayerNorm, AdamW and gradient-norm ops run the PEER_HD
// functions the CUDA kernels run (activation_math.h, layernorm_math.h, adamw_math.h): each op's
// output equals, bit for bit, a plain loop calling those functions. A CPU path with its own copy
// of the math that drifted from the shared one fails here.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "core/nn/layernorm.h"
#include "core/ops/activation.h"
#include "core/ops/adamw.h"
#include "core/ops/grad_norm.h"
#include "core/ops/layernorm.h"
#include "core/ops/layernorm_math.h"
#include "core/optim/adamw.h"
#include "core/rng.h"
#include "tests/gradcheck.h"

using namespace peer;
using gradcheck::fill_normal;
using gradcheck::random_tensor;

namespace {
// Elements whose bits differ (NaNs compare by bits too).
int64_t bit_differences(const float* a, const float* b, int64_t n) {
  int64_t bad = 0;
  for (int64_t i = 0; i < n; ++i) bad += std::memcmp(a + i, b + i, sizeof(float)) != 0;
  return bad;
}
int64_t bit_differences(const Tensor& a, const Tensor& b) {
  REQUIRE(a.numel() == b.numel());
  return bit_differences(a.data(), b.data(), a.numel());
}
}  // namespace

TEST_CASE("activation op: the CPU loops are activation_value and activation_derivative", "[ops][shared_math]") {
  const int64_t n = 40000;  // above the loops' threshold for threads
  Tensor x = random_tensor({n}, 3, 1, 3.0f), dy = random_tensor({n}, 3, 2);
  x[0] = 0.0f;
  x[1] = -0.0f;
  x[2] = 1e-30f;
  x[3] = -40.0f;
  x[4] = 40.0f;
  x[5] = std::numeric_limits<float>::infinity();
  for (Activation a : {Activation::ReLU, Activation::GELU}) {
    INFO(activation_name(a));
    Tensor want_y({n}), want_dx({n});
    for (int64_t i = 0; i < n; ++i) {
      want_y[i] = activation_value(a, x[i]);
      want_dx[i] = activation_derivative(a, x[i]) * dy[i];
    }
    Tensor y, dx;
    activation_forward(a, x, y);
    activation_backward(a, x, dy, dx);
    CHECK(bit_differences(y, want_y) == 0);
    CHECK(bit_differences(dx, want_dx) == 0);
    Tensor inplace = dy.clone();  // dx may be dy
    activation_backward(a, x, inplace, inplace);
    CHECK(bit_differences(inplace, want_dx) == 0);
  }
}

TEST_CASE("layernorm op: the CPU loops are layernorm_math's row and column functions", "[ops][shared_math]") {
  for (auto [n, d] : {std::pair<int64_t, int64_t>{7, 5}, {300, 131}}) {  // the second above the threads' threshold
    INFO("N=" << n << " D=" << d);
    LayerNorm ln("ln", d);
    fill_normal(ln.weight.value, 5, 1, 0.5f, 1.0f);
    fill_normal(ln.bias.value, 5, 2);
    fill_normal(ln.weight.grad, 5, 3);  // backward adds to what is there
    fill_normal(ln.bias.grad, 5, 4);
    const Tensor dw0 = ln.weight.grad.clone(), db0 = ln.bias.grad.clone();
    Tensor x = random_tensor({n, d}, 5, 5, 2.0f, 0.3f), dy = random_tensor({n, d}, 5, 6);
    const Tensor& y = ln.forward(x);
    const Tensor& dx = ln.backward(dy);

    const float *w = ln.weight.value.data(), *b = ln.bias.value.data();
    Tensor want_y({n, d}), want_dx({n, d}), mean({n}), rstd({n});
    for (int64_t i = 0; i < n; ++i)
      layernorm_row_forward(x.data() + i * d, w, b, d, 1e-5f, want_y.data() + i * d, mean[i], rstd[i]);
    for (int64_t i = 0; i < n; ++i)
      layernorm_row_backward(x.data() + i * d, w, dy.data() + i * d, d, mean[i], rstd[i], want_dx.data() + i * d);
    Tensor want_dw = dw0.clone(), want_db = db0.clone();
    for (int64_t j = 0; j < d; ++j)
      for (int64_t i = 0; i < n; ++i)
        layernorm_param_grad(x[i * d + j], dy[i * d + j], mean[i], rstd[i], want_dw[j], want_db[j]);
    CHECK(bit_differences(y, want_y) == 0);
    CHECK(bit_differences(dx, want_dx) == 0);
    CHECK(bit_differences(ln.weight.grad, want_dw) == 0);
    CHECK(bit_differences(ln.bias.grad, want_db) == 0);

    // Frozen: dx as before, parameter gradients untouched.
    ln.set_frozen(true);
    ln.weight.grad.copy_from(dw0);
    ln.forward(x);
    CHECK(bit_differences(ln.backward(dy), want_dx) == 0);
    CHECK(bit_differences(ln.weight.grad, dw0) == 0);
  }
}

namespace {
// The bias-corrected constants of step t, as AdamW::step computes them.
AdamWStep step_constants(const AdamWOptions& o, float lr, int64_t t) {
  return {lr, o.beta1, o.beta2, 1.0f / (1.0f - std::pow(o.beta1, float(t))), 1.0f / (1.0f - std::pow(o.beta2, float(t))),
          o.eps};
}

// n elements by adamw_element; g == nullptr: a zero gradient.
void reference_update(float* w, const float* g, float* m, float* v, int64_t n, float wd, AdamWStep s) {
  for (int64_t i = 0; i < n; ++i) adamw_element(w[i], m[i], v[i], g ? g[i] : 0.0f, wd, s);
}
}  // namespace

TEST_CASE("adamw op: dense and row-sparse (lazy and dense) updates are adamw_element", "[ops][shared_math][adamw]") {
  for (bool lazy : {true, false}) {
    INFO((lazy ? "lazy" : "dense") << " row-sparse mode");
    AdamWOptions o;
    o.lazy_sparse = lazy;
    const int64_t rows = 50, width = 6;
    // Sizes around the CPU's 4096-element chunks; one without weight decay.
    Parameter a("a", {3, 4097}, true), b("b", {5}, false), c("c", {4096}, true);
    Parameter t = Parameter::row_sparse("t", {rows, width}, true);
    std::vector<Parameter*> ps = {&a, &b, &c, &t};
    for (size_t k = 0; k < ps.size(); ++k) fill_normal(ps[k]->value, 7, k);
    AdamW opt(ps, o);
    // The reference: copies of the values and moments, updated by a loop over adamw_element.
    std::vector<Tensor> w, m, v;
    for (Parameter* p : ps) {
      w.push_back(p->value.clone());
      m.push_back(Tensor(p->value.shape()));
      v.push_back(Tensor(p->value.shape()));
    }
    for (int64_t step = 1; step <= 3; ++step) {
      for (size_t k = 0; k < 3; ++k) fill_normal(ps[k]->grad, 8 + step, k);
      std::vector<int32_t> touched = step == 2 ? std::vector<int32_t>{} : std::vector<int32_t>{1, 7, int32_t(step) + 20, 49};
      t.sparse_grad.clear();
      if (!touched.empty()) t.sparse_grad.accumulate(touched, random_tensor({int64_t(touched.size()), width}, 9, step));
      const float lr = 0.01f * float(step);
      opt.step(lr);

      const AdamWStep s = step_constants(o, lr, step);
      for (size_t k = 0; k < 3; ++k)
        reference_update(w[k].data(), ps[k]->grad.data(), m[k].data(), v[k].data(), w[k].numel(),
                         ps[k]->decay ? o.weight_decay : 0.0f, s);
      for (int64_t r = 0; r < rows; ++r) {
        auto it = std::lower_bound(touched.begin(), touched.end(), int32_t(r));
        const bool has = it != touched.end() && *it == r;
        if (lazy && !has) continue;
        const float* g = has ? t.sparse_grad.values.data() + (it - touched.begin()) * width : nullptr;
        reference_update(w[3].data() + r * width, g, m[3].data() + r * width, v[3].data() + r * width, width,
                         o.weight_decay, s);
      }
      for (size_t k = 0; k < ps.size(); ++k) {
        INFO("step " << step << " parameter " << ps[k]->name);
        CHECK(bit_differences(ps[k]->value, w[k]) == 0);
        CHECK(bit_differences(opt.state().at(ps[k]->name).m, m[k]) == 0);
        CHECK(bit_differences(opt.state().at(ps[k]->name).v, v[k]) == 0);
      }
    }
  }
}

TEST_CASE("find_sorted_row: the index of a row in a sorted unique list, or -1", "[ops][shared_math][adamw]") {
  CHECK(find_sorted_row(nullptr, 0, 3) == -1);
  Philox rng(11, 1);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<int32_t> rows;
    for (int32_t r = 0; r < 200; ++r)
      if (rng.uniform(uint64_t(trial * 200 + r)) < 0.2f) rows.push_back(r);
    for (int32_t r = -1; r <= 200; ++r) {
      auto it = std::lower_bound(rows.begin(), rows.end(), r);
      const int64_t want = it != rows.end() && *it == r ? it - rows.begin() : -1;
      REQUIRE(find_sorted_row(rows.data(), int64_t(rows.size()), r) == want);
    }
  }
}

TEST_CASE("clip_grad_norm: the overload that leaves the norm in a tensor agrees with the one that returns it",
          "[ops][adamw]") {
  Parameter a("a", {100, 300}, true), b("b", {7}, false);
  Parameter t = Parameter::row_sparse("t", {20, 4}, true);
  fill_normal(a.grad, 12, 1);
  fill_normal(b.grad, 12, 2);
  t.sparse_grad.accumulate({2, 9}, random_tensor({2, 4}, 12, 3));
  std::vector<Parameter*> ps = {&a, &b, &t};
  const Tensor a0 = a.grad.clone();
  const double norm = clip_grad_norm(ps, 0.0);
  Tensor got;
  clip_grad_norm(ps, 0.0, got);
  REQUIRE(got.numel() == 1);
  CHECK(got[0] == float(norm));
  CHECK(bit_differences(a.grad, a0) == 0);  // max_norm 0: nothing scaled
  clip_grad_norm(ps, norm / 4, got);
  CHECK(got[0] == float(norm));
  CHECK(a.grad[5] == a0[5] * float(norm / 4 / (norm + 1e-6)));
}

#ifndef PEER_WITH_CUDA
TEST_CASE("ops without the CUDA backend: each CUDA entry point names its op", "[ops]") {
  auto names = [](const std::string& op) { return Catch::Matchers::Contains("[" + op + "] has no CUDA implementation"); };
  float f = 0.0f;
  CHECK_THROWS_WITH(cuda::activation_forward(Activation::GELU, &f, &f, 1), names("activation_forward"));
  CHECK_THROWS_WITH(cuda::activation_backward(Activation::GELU, &f, &f, &f, 1), names("activation_backward"));
  CHECK_THROWS_WITH(cuda::layernorm_forward(&f, &f, &f, 1, 1, 1e-5f, &f, &f, &f), names("layernorm_forward"));
  CHECK_THROWS_WITH(cuda::layernorm_backward(&f, &f, &f, &f, &f, 1, 1, &f, &f, &f), names("layernorm_backward"));
  CHECK_THROWS_WITH(cuda::adamw_update({}, AdamWStep{}), names("adamw_update"));
  CHECK_THROWS_WITH(cuda::adamw_update_rows(&f, &f, &f, 1, 1, nullptr, &f, 0, 0.0f, true, AdamWStep{}),
                    names("adamw_update_rows"));
  CHECK_THROWS_WITH(cuda::clip_grad_norm({}, 1.0, &f), names("clip_grad_norm"));
}
#endif
