// CUDA against CPU for the activation, LayerNorm, AdamW and gradient-norm ops, on fresh random
// inputs, and CUDA against itself (the same bits run after run: no float atomics). Every op that
// differs is reported with its shape, how many elements differ and the largest error, before the
// test fails. Tolerance |cuda - cpu| <= atol + rtol * |cpu|: both backends run the same PEER_HD
// functions, so what differs is the GPU's erff/expf and the compilers' FMA contraction.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "core/nn/layernorm.h"
#include "core/ops/activation.h"
#include "core/optim/adamw.h"
#include "tests/gradcheck.h"

using namespace peer;
using gradcheck::fill_normal;
using gradcheck::random_tensor;

namespace {
// "" when every element of got (CUDA) is within atol + rtol * |want| of want (CPU); else the op,
// the shape, how many differ, the largest error and where.
std::string compare(const std::string& op, const Tensor& got_any, const Tensor& want, double atol, double rtol) {
  const Tensor got = got_any.to(Device::CPU);
  if (got.shape() != want.shape()) return op + ": shape " + got.shape_str() + " != " + want.shape_str() + "\n";
  int64_t bad = 0, worst = -1;
  double max_err = 0.0;
  for (int64_t i = 0; i < want.numel(); ++i) {
    const double err = std::fabs(double(got[i]) - double(want[i]));
    if (!(err <= atol + rtol * std::fabs(double(want[i])))) {  // NaN fails
      ++bad;
      if (worst < 0 || !(err <= max_err)) worst = i, max_err = err;
    }
  }
  if (bad == 0) return "";
  char buf[200];
  std::snprintf(buf, sizeof buf, ": %lld of %lld differ, max error %.3g at [%lld] (cuda %.9g, cpu %.9g)\n",
                (long long)bad, (long long)want.numel(), max_err, (long long)worst, got[worst], want[worst]);
  return op + " " + want.shape_str() + buf;
}

std::string same_bits(const std::string& op, const Tensor& a_any, const Tensor& b_any) {
  const Tensor a = a_any.to(Device::CPU), b = b_any.to(Device::CPU);
  int64_t bad = 0;
  for (int64_t i = 0; i < a.numel(); ++i) bad += std::memcmp(a.data() + i, b.data() + i, sizeof(float)) != 0;
  return bad ? op + " " + a.shape_str() + ": " + std::to_string(bad) + " elements differ between two runs\n" : "";
}

// A model of many parameters (more than one launch's worth), sizes around the kernels' chunks,
// one row-sparse table; gradients filled from `seed`.
struct Model : Module {
  std::vector<Parameter> dense;
  Parameter table = Parameter::row_sparse("table", {300, 24}, true);
  Model() {
    for (int i = 0; i < 150; ++i) {
      const int64_t n = i == 0 ? 3 * 16384 + 5 : i == 1 ? 4097 : 1 + (i * 37) % 700;
      dense.emplace_back(std::string("p").append(std::to_string(i)), std::vector<int64_t>{n}, i % 3 != 0);
    }
    for (size_t i = 0; i < dense.size(); ++i) fill_normal(dense[i].value, 21, i);
    fill_normal(table.value, 21, 999);
  }
  void collect_parameters(std::vector<Parameter*>& out) override {
    for (Parameter& p : dense) out.push_back(&p);
    out.push_back(&table);
  }
  // Gradients from seed (on the CPU, then to device d); touched rows of the table depend on seed.
  void set_grads(uint64_t seed, Device d, float scale) {
    for (size_t i = 0; i < dense.size(); ++i) dense[i].grad = random_tensor(dense[i].value.shape(), seed, i, scale).to(d);
    std::vector<int32_t> rows;
    for (int32_t r = int32_t(seed % 7); r < 300; r += 3 + int32_t(seed % 5)) rows.push_back(r);
    table.sparse_grad.clear();
    table.sparse_grad.accumulate(rows, random_tensor({int64_t(rows.size()), 24}, seed, 1000, scale).to(d));
  }
};
}  // namespace

TEST_CASE("gpu activation: forward and backward match the CPU", "[gpu]") {
  std::string report;
  const int64_t n = 100003;
  Tensor x = random_tensor({n}, 31, 1, 3.0f), dy = random_tensor({n}, 31, 2);
  for (Activation a : {Activation::ReLU, Activation::GELU}) {
    const std::string name = activation_name(a);
    Tensor y, dx, gy, gdx;
    activation_forward(a, x, y);
    activation_backward(a, x, dy, dx);
    const Tensor gx = x.to(Device::CUDA), gdy = dy.to(Device::CUDA);
    activation_forward(a, gx, gy);
    activation_backward(a, gx, gdy, gdx);
    CHECK(gy.device() == Device::CUDA);
    report += compare(name + " forward", gy, y, 1e-6, 1e-5);
    report += compare(name + " backward", gdx, dx, 1e-6, 1e-5);
    Tensor inplace = gdy.clone();
    activation_backward(a, gx, inplace, inplace);
    report += compare(name + " backward in place", inplace, dx, 1e-6, 1e-5);
  }
  INFO(report);
  CHECK(report.empty());
}

TEST_CASE("gpu layernorm: forward, backward and parameter gradients match the CPU, the same bits each run", "[gpu]") {
  std::string report;
  for (auto [n, d] : {std::pair<int64_t, int64_t>{512, 128}, {7, 1000}, {1, 3}}) {
    LayerNorm cpu("ln", d), gpu("ln", d);
    fill_normal(cpu.weight.value, 41, 1, 0.5f, 1.0f);
    fill_normal(cpu.bias.value, 41, 2);
    fill_normal(cpu.weight.grad, 41, 3);
    fill_normal(cpu.bias.grad, 41, 4);
    gpu.weight.value.copy_from(cpu.weight.value);
    gpu.bias.value.copy_from(cpu.bias.value);
    gpu.weight.grad.copy_from(cpu.weight.grad);
    gpu.bias.grad.copy_from(cpu.bias.grad);
    gpu.to(Device::CUDA);
    const Tensor dw0 = gpu.weight.grad.clone(), db0 = gpu.bias.grad.clone();
    Tensor x = random_tensor({n, d}, 41, 5, 2.0f, 0.3f), dy = random_tensor({n, d}, 41, 6);
    const Tensor gx = x.to(Device::CUDA), gdy = dy.to(Device::CUDA);
    const Tensor& y = cpu.forward(x);
    const Tensor& dx = cpu.backward(dy);
    const Tensor& gy = gpu.forward(gx);
    const Tensor gy1 = gy.clone();
    const Tensor gdx = gpu.backward(gdy).clone();
    const Tensor gdw = gpu.weight.grad.clone(), gdb = gpu.bias.grad.clone();
    report += compare("layernorm forward", gy, y, 1e-5, 1e-5);
    report += compare("layernorm dx", gdx, dx, 1e-5, 1e-4);
    report += compare("layernorm dw", gpu.weight.grad, cpu.weight.grad, 1e-5, 1e-4);
    report += compare("layernorm db", gpu.bias.grad, cpu.bias.grad, 1e-5, 1e-4);
    // Again from the same gradients: the same bits.
    gpu.weight.grad.copy_from(dw0);
    gpu.bias.grad.copy_from(db0);
    report += same_bits("layernorm forward", gpu.forward(gx), gy1);
    report += same_bits("layernorm dx", gpu.backward(gdy), gdx);
    report += same_bits("layernorm dw", gpu.weight.grad, gdw);
    report += same_bits("layernorm db", gpu.bias.grad, gdb);
    // Frozen: dx only, parameter gradients untouched.
    gpu.set_frozen(true);
    gpu.weight.grad.copy_from(dw0);
    gpu.forward(gx);
    report += compare("layernorm dx (frozen)", gpu.backward(gdy), dx, 1e-5, 1e-4);
    report += same_bits("layernorm dw (frozen)", gpu.weight.grad, dw0);
  }
  INFO(report);
  CHECK(report.empty());
}

TEST_CASE("gpu adamw: dense and row-sparse (lazy and dense) updates over many parameters match the CPU", "[gpu]") {
  std::string report;
  for (bool lazy : {true, false}) {
    const std::string mode = lazy ? " (lazy)" : " (dense rows)";
    AdamWOptions o;
    o.lazy_sparse = lazy;
    Model cpu, gpu;
    AdamW cpu_opt(cpu.parameters(), o), gpu_opt(gpu.parameters(), o);
    gpu.to(Device::CUDA);
    gpu_opt.to(Device::CUDA);
    for (uint64_t step = 1; step <= 3; ++step) {
      cpu.set_grads(50 + step, Device::CPU, 1.0f);
      gpu.set_grads(50 + step, Device::CUDA, 1.0f);
      cpu_opt.step(1e-2f);
      gpu_opt.step(1e-2f);
    }
    // A step where the table has no gradient rows (dense-rows mode still moves every row).
    cpu.table.sparse_grad.clear();
    gpu.table.sparse_grad.clear();
    cpu_opt.step(1e-2f);
    gpu_opt.step(1e-2f);
    const std::vector<Parameter*> cp = cpu.parameters(), gp = gpu.parameters();
    for (size_t i = 0; i < cp.size(); ++i) {
      const auto &cs = cpu_opt.state().at(cp[i]->name), &gs = gpu_opt.state().at(gp[i]->name);
      report += compare("adamw w " + cp[i]->name + mode, gp[i]->value, cp[i]->value, 1e-6, 1e-5);
      report += compare("adamw m " + cp[i]->name + mode, gs.m, cs.m, 1e-6, 1e-5);
      report += compare("adamw v " + cp[i]->name + mode, gs.v, cs.v, 1e-7, 1e-5);
    }
  }
  INFO(report);
  CHECK(report.empty());
}

TEST_CASE("gpu clip_grad_norm: the norm and the clipped gradients match the CPU, the same bits each run", "[gpu]") {
  std::string report;
  for (double max_norm : {0.0, 1.0, 1e6}) {
    INFO("max_norm " << max_norm);
    Model cpu, gpu;
    gpu.to(Device::CUDA);
    cpu.set_grads(7, Device::CPU, 0.1f);
    gpu.set_grads(7, Device::CUDA, 0.1f);
    const double want = clip_grad_norm(cpu.parameters(), max_norm);
    const double got = clip_grad_norm(gpu.parameters(), max_norm);
    CHECK(std::fabs(got - want) <= 1e-6 * want);
    const std::vector<Parameter*> cp = cpu.parameters(), gp = gpu.parameters();
    for (size_t i = 0; i + 1 < cp.size(); ++i)
      report += compare("clip_grad_norm " + cp[i]->name, gp[i]->grad, cp[i]->grad, 1e-8, 1e-5);
    report += compare("clip_grad_norm table", gpu.table.sparse_grad.values, cpu.table.sparse_grad.values, 1e-8, 1e-5);

    // The overload that does not wait, twice on the same gradients: the same norm, the same bits.
    gpu.set_grads(7, Device::CUDA, 0.1f);
    Tensor norm1, norm2;
    clip_grad_norm(gpu.parameters(), max_norm, norm1);
    const Tensor g1 = gpu.dense[0].grad.clone();
    gpu.set_grads(7, Device::CUDA, 0.1f);
    clip_grad_norm(gpu.parameters(), max_norm, norm2);
    CHECK(norm1.device() == Device::CUDA);
    CHECK(norm1.to(Device::CPU)[0] == float(got));
    report += same_bits("clip_grad_norm norm", norm2, norm1);
    report += same_bits("clip_grad_norm p0", gpu.dense[0].grad, g1);
  }
  INFO(report);
  CHECK(report.empty());
}
