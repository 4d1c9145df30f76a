#include "tests/op_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace peer::optable {

Operand input(const std::string& name, Tensor& x, const Tensor& dx) {
  return {name, x.data(), x.numel(), std::vector<float>(dx.data(), dx.data() + dx.numel())};
}

Operand param(Parameter& p) {
  if (!p.sparse) return {p.name, p.value.data(), p.value.numel(), std::vector<float>(p.grad.data(), p.grad.data() + p.grad.numel())};
  const int64_t w = p.value.dim(1);
  std::vector<float> g(p.value.numel(), 0.0f);
  for (size_t r = 0; r < p.sparse_grad.rows.size(); ++r)
    std::copy_n(p.sparse_grad.values.data() + int64_t(r) * w, w, g.data() + int64_t(p.sparse_grad.rows[r]) * w);
  return {p.name, p.value.data(), p.value.numel(), std::move(g)};
}

std::vector<Operand> with_params(std::vector<Operand> inputs, Module& m) {
  for (Parameter* p : m.parameters())
    if (!p->buffer) inputs.push_back(param(*p));
  return inputs;
}

std::string compare_values(const std::string& what, const float* got, const float* want, int64_t n, double atol,
                           double rtol) {
  int64_t bad = 0;
  std::string first;
  for (int64_t i = 0; i < n; ++i) {
    const double err = std::fabs(double(got[i]) - double(want[i]));
    if (err <= atol + rtol * std::fabs(double(want[i]))) continue;  // NaN fails
    if (bad++ == 0) {
      char buf[160];
      std::snprintf(buf, sizeof buf, "[%lld] got %.9g want %.9g", (long long)i, got[i], want[i]);
      first = buf;
    }
  }
  if (bad == 0) return "";
  return what + ": " + std::to_string(bad) + " of " + std::to_string(n) + " differ, first " + first + "\n";
}

namespace {
std::vector<Case> join(std::vector<std::vector<Case>> parts) {
  std::vector<Case> out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
}  // namespace

std::vector<Case> all_cases() { return join({core_cases(), moe_cases(), peer_cases()}); }
std::vector<Case> all_perf_cases() { return join({core_perf_cases(), moe_perf_cases(), peer_perf_cases()}); }

}  // namespace peer::optable
