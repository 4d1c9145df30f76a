#include "tests/op_table.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/ops/backend.h"
#include "tests/gradcheck.h"

namespace peer::optable {

namespace {
// t's values on the host (to(CPU) shares a CPU tensor's storage, copies a CUDA one's).
std::vector<float> host_values(const Tensor& t) {
  const Tensor h = t.to(Device::CPU);
  return std::vector<float>(h.data(), h.data() + h.numel());
}
}  // namespace

Operand input(const std::string& name, Tensor& x, const Tensor& dx) {
  return {name, x.data(), x.numel(), host_values(dx)};
}

Operand param(Parameter& p) {
  if (!p.sparse) return {p.name, p.value.data(), p.value.numel(), host_values(p.grad)};
  const int64_t w = p.value.dim(1);
  const std::vector<float> values = host_values(p.sparse_grad.values);
  const std::vector<int32_t> rows = p.sparse_grad.host_rows();  // either layout (core/module.h)
  std::vector<float> g(p.value.numel(), 0.0f);
  for (size_t r = 0; r < rows.size(); ++r) std::copy_n(values.data() + int64_t(r) * w, w, g.data() + int64_t(rows[r]) * w);
  return {p.name, p.value.data(), p.value.numel(), std::move(g)};
}

void move_to(Device d, Module& m, std::initializer_list<Tensor*> tensors) {
  m.to(d);
  for (Tensor* t : tensors) *t = t->to(d);
}

void Op::to(Device d) {
  if (d != Device::CPU) no_cuda_implementation("[op table] this row's op");
}

double GradOp::project(const Tensor& y, const Tensor& w) {
  output_ = y;
  return gradcheck::project(y.to(Device::CPU), w.to(Device::CPU));
}

std::vector<Operand> with_params(std::vector<Operand> inputs, Module& m) {
  for (Parameter* p : m.parameters())
    if (!p->buffer) inputs.push_back(param(*p));
  return inputs;
}

std::string compare_values(const std::string& what, const float* got, const float* want, int64_t n, double atol,
                           double rtol) {
  int64_t bad = 0, worst = -1;
  double worst_err = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    const double err = std::fabs(double(got[i]) - double(want[i]));
    if (err <= atol + rtol * std::fabs(double(want[i]))) continue;  // NaN fails
    ++bad;
    if (worst < 0 || err > worst_err || std::isnan(err)) worst = i, worst_err = err;  // NaN is the worst
  }
  if (bad == 0) return "";
  char buf[200];
  std::snprintf(buf, sizeof buf, ": %lld of %lld differ, max error %.3g at [%lld] (got %.9g want %.9g)\n",
                (long long)bad, (long long)n, worst_err, (long long)worst, got[worst], want[worst]);
  return what + buf;
}

namespace {
std::vector<Case> join(std::vector<std::vector<Case>> parts) {
  std::vector<Case> out;
  for (auto& p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}

// A gradient row: loss, output and every gradient (copied to the host) of the op moved to d
// against the CPU run's.
std::string grad_on_device(const Case& c, uint64_t seed, Device d) {
  std::unique_ptr<GradOp> op = c.grad(seed), cpu_op = c.grad(seed);
  op->to(d);
  const double atol = c.tol.atol, rtol = c.tol.rtol;
  std::string out;
  const double got = op->loss(), want = cpu_op->loss();
  if (!(std::fabs(got - want) <= atol + rtol * std::fabs(want)))
    out += cat("loss: got ", got, " want ", want, ", error ", std::fabs(got - want), "\n");
  const Tensor y = op->output().to(Device::CPU);
  const Tensor& y_want = cpu_op->output();
  if (y.shape() != y_want.shape())
    out += cat("output: shape ", y.shape_str(), " want ", y_want.shape_str(), "\n");
  else
    out += compare_values("output " + y.shape_str(), y.data(), y_want.data(), y.numel(), atol, rtol);
  const std::vector<Operand> grads = op->backward(), grads_want = cpu_op->backward();
  if (grads.size() != grads_want.size()) return out + cat(grads.size(), " gradients, want ", grads_want.size(), "\n");
  for (size_t i = 0; i < grads.size(); ++i)
    out += compare_values(cat("d", grads[i].name, " (", grads[i].n, " values)"), grads[i].grad.data(),
                          grads_want[i].grad.data(), grads[i].n, atol, rtol);
  return out;
}

}  // namespace

std::string compare_on_device(const Case& c, uint64_t seed, Device d) {
  if (c.grad) return grad_on_device(c, seed, d);
  std::unique_ptr<ExactOp> op = c.exact(seed);
  op->to(d);
  return op->compare(c.tol.atol, c.tol.rtol);
}

std::vector<Case> all_cases() { return join({core_cases(), moe_cases(), peer_cases(), pkm_cases()}); }
std::vector<Case> all_perf_cases() {
  return join({core_perf_cases(), moe_perf_cases(), peer_perf_cases(), pkm_perf_cases()});
}

}  // namespace peer::optable
