// Finite-difference gradient checks (in the spirit of ggml's tests/test-backend-ops.cpp).
//
// A check compares the analytical gradient of a scalar loss L (from a layer's backward) with
// CENTRAL differences of L evaluated through the layer's float32 forward:
//     numeric_i = (L(x + h e_i) - L(x - h e_i)) / ((x_i + h) - (x_i - h)),
// where the denominator uses the float values actually stored (so rounding of x_i +- h does not
// bias the slope) and L is accumulated in double. For a layer with output y the loss is a fixed
// random projection L = sum_i y_i * r_i, so dL/dy = r is what the test feeds to backward.
//
// The step is relative: h = eps * max(1, |x_i|). An element passes when
//     |analytic - numeric| <= atol + rtol * |numeric|,
// with atol and rtol stated by each test (never loosened to make a test pass).
// Small tensors are checked in full, big ones on a random subset of `max_elements` elements.
//
// Non-smooth layers (ReLU) can pass a kink inside [x - h, x + h], where a finite difference is
// meaningless. A check may give a `kinks` function returning the pattern of branch decisions
// (e.g. the ReLU mask); elements whose perturbation changes that pattern are skipped and counted,
// and the caller bounds the count.
// GRADCHECK_VERBOSE=1 in the environment prints every report.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "core/module.h"
#include "core/rng.h"
#include "core/tensor.h"

namespace peer::gradcheck {

// ---- Inputs -------------------------------------------------------------------------------

// t = shift + scale * N(0, 1), drawn from Philox(seed, stream).
inline void fill_normal(Tensor& t, uint64_t seed, uint64_t stream, float scale = 1.0f, float shift = 0.0f) {
  Philox rng(seed, stream);
  for (int64_t i = 0; i < t.numel(); ++i) t[i] = shift + scale * rng.normal(uint64_t(i));
}

inline Tensor random_tensor(std::vector<int64_t> shape, uint64_t seed, uint64_t stream, float scale = 1.0f,
                            float shift = 0.0f) {
  Tensor t(std::move(shape));
  fill_normal(t, seed, stream, scale, shift);
  return t;
}

// sum_i y_i * r_i in double: the scalar loss whose gradient w.r.t. y is r.
inline double project(const Tensor& y, const Tensor& r) {
  double s = 0.0;
  for (int64_t i = 0; i < y.numel(); ++i) s += double(y[i]) * double(r[i]);
  return s;
}

// ---- The check ----------------------------------------------------------------------------

struct Options {
  double atol = 1e-3;
  double rtol = 1e-2;
  float eps = 1e-2f;             // relative step: h = eps * max(1, |x|)
  int64_t max_elements = 64;     // checked per tensor (all of them when the tensor is smaller)
  uint64_t seed = 0;             // picks the subset
  std::function<std::vector<uint8_t>()> kinks;  // optional branch pattern, see above
};

struct Report {
  std::string name;
  int64_t numel = 0, checked = 0, skipped = 0, failed = 0;
  double max_abs_err = 0.0;  // max |analytic - numeric| over checked elements
  double max_numeric = 0.0;  // max |numeric|: guards against a vacuous all-zero comparison
  double max_analytic = 0.0;
  std::string failures;      // the first few failing elements, one a line

  std::string summary() const {
    char buf[256];
    std::snprintf(buf, sizeof buf,
                  "%s: numel %lld checked %lld skipped %lld failed %lld max|err| %.3g max|numeric| %.3g "
                  "max|analytic| %.3g",
                  name.c_str(), (long long)numel, (long long)checked, (long long)skipped, (long long)failed,
                  max_abs_err, max_numeric, max_analytic);
    return std::string(buf) + (failures.empty() ? "" : "\n" + failures);
  }
};

inline uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

// Indices to check: all of [0, n) when n <= k, else k distinct ones (partial Fisher-Yates).
inline std::vector<int64_t> pick_elements(int64_t n, int64_t k, uint64_t seed) {
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  if (n <= k) return idx;
  Philox rng(seed, 0x6772616463686bull);  // "gradchk"
  for (int64_t i = 0; i < k; ++i) std::swap(idx[i], idx[i + int64_t(rng.below(uint64_t(n - i), uint64_t(i)))]);
  idx.resize(k);
  std::sort(idx.begin(), idx.end());
  return idx;
}

// x: the n floats the loss reads (a parameter value or an input), perturbed in place and restored.
// analytic: dL/dx from backward, copied by the caller before any further forward.
inline Report check(const std::string& name, float* x, const float* analytic, int64_t n,
                    const std::function<double()>& loss, const Options& opt) {
  Report rep;
  rep.name = name;
  rep.numel = n;
  const std::vector<uint8_t> base_kinks = opt.kinks ? opt.kinks() : std::vector<uint8_t>{};
  for (int64_t i : pick_elements(n, opt.max_elements, opt.seed ^ fnv1a(name))) {
    const float x0 = x[i];
    const float h = opt.eps * std::max(1.0f, std::fabs(x0));
    const float xp = x0 + h, xm = x0 - h;
    x[i] = xp;
    const double lp = loss();
    const bool kink_p = opt.kinks && opt.kinks() != base_kinks;
    x[i] = xm;
    const double lm = loss();
    const bool kink_m = opt.kinks && opt.kinks() != base_kinks;
    x[i] = x0;
    if (kink_p || kink_m) {
      ++rep.skipped;
      continue;
    }
    const double numeric = (lp - lm) / (double(xp) - double(xm));
    const double a = analytic[i];
    const double err = std::fabs(a - numeric);
    ++rep.checked;
    rep.max_abs_err = std::max(rep.max_abs_err, err);
    rep.max_numeric = std::max(rep.max_numeric, std::fabs(numeric));
    rep.max_analytic = std::max(rep.max_analytic, std::fabs(a));
    if (!(err <= opt.atol + opt.rtol * std::fabs(numeric))) {  // NaN fails too
      if (++rep.failed <= 8) {
        char buf[160];
        std::snprintf(buf, sizeof buf, "  [%lld] analytic %.6g numeric %.6g |err| %.3g\n", (long long)i, a, numeric,
                      err);
        rep.failures += buf;
      }
    }
  }
  if (std::getenv("GRADCHECK_VERBOSE")) std::printf("%s\n", rep.summary().c_str());
  return rep;
}

// Checks a Parameter's gradient (copied from p.grad before the check runs forwards).
inline Report check_param(Parameter& p, const std::function<double()>& loss, const Options& opt) {
  std::vector<float> g(p.grad.data(), p.grad.data() + p.grad.numel());
  return check(p.name, p.value.data(), g.data(), p.value.numel(), loss, opt);
}

// Checks an input tensor x against a copied analytical gradient dx.
inline Report check_input(const std::string& name, Tensor& x, const std::vector<float>& dx,
                          const std::function<double()>& loss, const Options& opt) {
  return check(name, x.data(), dx.data(), x.numel(), loss, opt);
}

inline std::vector<float> copy_of(const Tensor& t) { return std::vector<float>(t.data(), t.data() + t.numel()); }

}  // namespace peer::gradcheck

// Asserts a gradcheck Report: no failures, something checked, and a gradient that is not zero
// everywhere (a check of 0 against 0 proves nothing).
#define REQUIRE_GRAD_OK(report)                      \
  do {                                               \
    const auto& rep_ = (report);                     \
    INFO(rep_.summary());                            \
    CHECK(rep_.checked > 0);                         \
    CHECK(rep_.max_numeric > 0.0);                   \
    CHECK(rep_.failed == 0);                         \
  } while (0)
