// The MoE layer on the GPU against the CPU (moe/cuda/*.cu): the dispatch plan exactly (the CPU's
// capacity rule, on random routings with many priority ties), then the whole layer forward and
// backward for each router kind with and without capacity drops on fresh random inputs, the router
// statistics, and the same bits run after run.
// Tolerance |gpu - cpu| <= 1e-4 + 1e-3 |cpu| per element: float32 sums in other orders (our tile
// GEMM over K = 64 and 96, router sums over 256 tokens) differ by ~1e-6 relative, device expf /
// logf by an ulp or two; a wrong term is O(|value|). The expert choices must be equal: the router
// weights are sharpened so that no top-k gap is within rounding.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "moe/sparse_moe.h"
#include "tests/gradcheck.h"
#include "tests/moe_plan_reference.h"
#include "tests/op_table.h"

using namespace peer;

namespace {

constexpr double kAtol = 1e-4, kRtol = 1e-3;

std::string mismatch(const std::string& what, const Tensor& gpu, const Tensor& cpu) {
  const Tensor got = gpu.to(Device::CPU);
  if (got.numel() != cpu.numel()) return what + ": " + got.shape_str() + " vs " + cpu.shape_str() + "\n";
  return optable::compare_values(what + " " + cpu.shape_str(), got.data(), cpu.data(), cpu.numel(), kAtol, kRtol);
}

std::vector<int32_t> ints(const Tensor& t) {
  const Tensor h = t.to(Device::CPU);
  return {h.data_i32(), h.data_i32() + h.numel()};
}

MoEOptions options(RouterKind kind, double cf, int64_t E) {
  MoEOptions o;
  o.router.kind = kind;
  o.router.num_experts = E;
  o.router.top_k = kind == RouterKind::Switch ? 1 : 2;
  o.router.load_balance_coef = 0.1f;
  o.router.importance_coef = 0.1f;
  o.router.z_loss_coef = 0.01f;
  o.d_expert = 96;
  o.activation = Activation::GELU;
  o.capacity_factor = cf;
  o.num_shared = 1;
  o.dropout = 0.1f;
  return o;
}

struct Layer {
  Layer(RouterKind kind, double cf, int64_t E, uint64_t seed, Device d)
      : moe("moe", kDim, options(kind, cf, E), InitScheme::Kaiming, seed, kStreamLayer) {
    for (int64_t i = 0; i < moe.router.gate.weight.value.numel(); ++i) moe.router.gate.weight.value[i] *= 4.0f;
    moe.to(d);
  }
  static constexpr int64_t kDim = 64;
  SparseMoE moe;
};

}  // namespace

TEST_CASE("gpu moe: the dispatch plan equals the CPU's capacity rule on random routings", "[gpu]") {
  int drops = 0;
  for (int64_t E : {1, 4, 8, 64, 256})
    for (int64_t k : {1, 2, 4})
      for (double cf : {0.0, 0.5, 1.25})
        for (int levels : {0, 4}) {
          if (k > E) continue;
          const int64_t N = 1000;
          const Routing r = test::tied_routing(N, E, k, levels, uint64_t(E * 100 + k * 10 + levels));
          const int64_t cap = expert_capacity(cf, N, k, E);
          const test::PlanReference want = test::reference_plan(r, E, cap);
          const Routing on_gpu{r.tokens, r.k, r.expert.to(Device::CUDA), r.gate.to(Device::CUDA)};
          INFO("E=" << E << " k=" << k << " capacity_factor=" << cf << " gate levels=" << levels);
          CHECK(test::plan_mismatch(plan_dispatch(on_gpu, E, cap), want) == "");
          drops += int(want.token.size()) < N * k;
        }
  CHECK(drops > 10);
}

TEST_CASE("gpu moe: the layer's forward, backward and statistics follow the CPU's", "[gpu]") {
  const auto kind = GENERATE(RouterKind::TopK, RouterKind::NoisyTopK, RouterKind::Switch);
  const double cf = GENERATE(0.0, 0.8);
  const int64_t E = GENERATE(as<int64_t>{}, 8, 64);
  const uint64_t seed = 5;
  const int64_t N = 256, d = Layer::kDim;
  INFO("router " << int(kind) << " capacity_factor " << cf << " E " << E);
  Layer cpu(kind, cf, E, seed, Device::CPU), gpu(kind, cf, E, seed, Device::CUDA);
  const Tensor x = gradcheck::random_tensor({N, d}, seed, 1), dy = gradcheck::random_tensor({N, d}, seed, 2);
  std::string report;
  for (uint64_t step : {3u, 4u}) {  // twice: buffers reused, stats accumulated
    const Tensor y_cpu = cpu.moe.forward(x, true, step).clone();
    const Tensor& y_gpu = gpu.moe.forward(x.to(Device::CUDA), true, step);
    if (kind == RouterKind::NoisyTopK) report += mismatch("noise", gpu.moe.router.state().eps, cpu.moe.router.state().eps);
    REQUIRE(ints(gpu.moe.router.routing().expert) == ints(cpu.moe.router.routing().expert));  // the same choices
    report += mismatch("gates", gpu.moe.router.routing().gate, cpu.moe.router.routing().gate);
    CHECK(ints(gpu.moe.plan().row_of) == ints(cpu.moe.plan().row_of));  // the same drops and rows
    CHECK(ints(gpu.moe.plan().offsets) == ints(cpu.moe.plan().offsets));
    if (cf > 0.0) CHECK(dropped(cpu.moe.plan()) > 0);
    report += mismatch("y", y_gpu, y_cpu);
    const AuxLosses a = gpu.moe.router.aux(), b = cpu.moe.router.aux();
    CHECK(a.total() == Approx(b.total()).epsilon(1e-5));
    cpu.moe.zero_grad();
    gpu.moe.zero_grad();
    const Tensor dx_cpu = cpu.moe.backward(dy).clone();
    report += mismatch("dx", gpu.moe.backward(dy.to(Device::CUDA)), dx_cpu);
    const std::vector<Parameter*> pc = cpu.moe.parameters(), pg = gpu.moe.parameters();
    for (size_t i = 0; i < pc.size(); ++i) report += mismatch("d" + pc[i]->name, pg[i]->grad, pc[i]->grad);
  }
  Stats sc, sg;
  cpu.moe.stats(sc);
  gpu.moe.stats(sg);
  REQUIRE(sc.size() == sg.size());
  for (size_t i = 0; i < sc.size(); ++i)
    for (size_t j = 0; j < sc[i].second.size(); ++j) {
      INFO(sc[i].first << "[" << j << "]");
      CHECK(sg[i].second[j] == Approx(sc[i].second[j]).epsilon(1e-5).margin(1e-9));
    }
  INFO(report);
  CHECK(report.empty());
}

TEST_CASE("gpu moe: the layer gives the same bits run after run", "[gpu]") {
  const int64_t N = 512, d = Layer::kDim;
  const Tensor x = gradcheck::random_tensor({N, d}, 9, 1).to(Device::CUDA);
  const Tensor dy = gradcheck::random_tensor({N, d}, 9, 2).to(Device::CUDA);
  std::vector<std::vector<float>> runs[2];
  for (auto& out : runs) {
    Layer l(RouterKind::NoisyTopK, 1.25, 64, 9, Device::CUDA);
    out.push_back(gradcheck::copy_of(l.moe.forward(x, true, 1).to(Device::CPU)));
    l.moe.zero_grad();
    out.push_back(gradcheck::copy_of(l.moe.backward(dy).to(Device::CPU)));
    for (Parameter* p : l.moe.parameters()) out.push_back(gradcheck::copy_of(p->grad.to(Device::CPU)));
  }
  CHECK(runs[0] == runs[1]);
}
