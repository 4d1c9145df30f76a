// The MoE layer's forward + backward as E grows with active parameters held fixed (top-2 of
// experts with d_expert = 256, d = 256, 2048 tokens): sparse dispatch should cost about the same
// per token at E = 8, 64 and 256, while the dense masking oracle (every expert on every token)
// grows with E. Also times the dispatch alone (router + capacity plan) to show its overhead.
// MoE_gpu/E runs the same step on a CUDA device (skipped without one; CUDA events time it),
// reporting tokens/s, the minimum bytes a forward + backward must move and the fraction of the
// device's peak bandwidth that moving them at the measured speed takes.
//   build/bench/peer_bench_moe_layer [--benchmark_filter=MoE_gpu]
#include <benchmark/benchmark.h>

#include "core/cuda/device.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "moe/sparse_moe.h"
#include "peer/product_keys.h"

namespace peer {
namespace {

constexpr int64_t kTokens = 2048, kDim = 256, kExpertHidden = 256;

MoEOptions options(int64_t experts, bool oracle) {
  MoEOptions o;
  o.router.kind = RouterKind::TopK;
  o.router.num_experts = experts;
  o.router.top_k = 2;
  o.d_expert = kExpertHidden;
  o.capacity_factor = 1.25;
  o.masked_oracle = oracle;
  return o;
}

Tensor random_input(uint64_t stream) {
  Tensor x({kTokens, kDim});
  Philox rng(3, stream);
  for (int64_t i = 0; i < x.numel(); ++i) x[i] = rng.normal(uint64_t(i));
  return x;
}

void layer_step(benchmark::State& state, bool oracle) {
  set_num_threads(2);
  SparseMoE moe("moe", kDim, options(state.range(0), oracle), InitScheme::Kaiming, 1, 5);
  Tensor x = random_input(1), dy = random_input(2);
  for (auto _ : state) {
    moe.zero_grad();
    moe.forward(x, true, 0);
    moe.backward(dy);
  }
  state.counters["tokens_per_s"] = benchmark::Counter(double(kTokens), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["time_per_token"] =
      benchmark::Counter(double(kTokens), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// The least a forward + backward must move, in bytes: x and dy read, y and dx written (N*d each),
// every parameter read once and its gradient read and written once (fp32).
double minimum_bytes(SparseMoE& moe) {
  double params = 0;
  for (const Parameter* p : moe.parameters()) params += double(p->value.numel());
  return 4.0 * (4.0 * double(kTokens * kDim) + 3.0 * params);
}

void BM_MoE_gpu(benchmark::State& state) {
  if (cuda::device_count() == 0) {
    state.SkipWithError("no CUDA device");
    return;
  }
  SparseMoE moe("moe", kDim, options(state.range(0), false), InitScheme::Kaiming, 1, 5);
  moe.to(Device::CUDA);
  const Tensor x = random_input(1).to(Device::CUDA), dy = random_input(2).to(Device::CUDA);
  auto step = [&] {
    moe.zero_grad();
    moe.forward(x, true, 0);
    moe.backward(dy);
  };
  step();  // warm-up: the caching allocator's first allocations, cuBLAS's handle
  double seconds = 0.0;
  for (auto _ : state) {
    const double s = cuda::device_ms(step) * 1e-3;
    state.SetIterationTime(s);
    seconds += s;
  }
  const double per_step = seconds / double(state.iterations()), bytes = minimum_bytes(moe);
  state.counters["tokens_per_s"] = double(kTokens) / per_step;
  state.counters["minimum_MB"] = bytes / 1e6;
  state.counters["fraction_of_peak_bandwidth"] = bytes / per_step / cuda::peak_bandwidth();
}

void BM_MoE_sparse(benchmark::State& s) { layer_step(s, false); }
void BM_MoE_masked_oracle(benchmark::State& s) { layer_step(s, true); }

void BM_MoE_dispatch_only(benchmark::State& state) {
  set_num_threads(2);
  SparseMoE moe("moe", kDim, options(state.range(0), false), InitScheme::Kaiming, 1, 5);
  Tensor x = random_input(1);
  DispatchPlan plan;
  for (auto _ : state) {
    const Routing& r = moe.router.forward(x, true, 0);
    plan_dispatch(r, state.range(0), expert_capacity(1.25, kTokens, 2, state.range(0)), plan);
    benchmark::DoNotOptimize(plan.rows());
  }
  state.counters["time_per_token"] =
      benchmark::Counter(double(kTokens), benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

BENCHMARK(BM_MoE_sparse)->Arg(8)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MoE_dispatch_only)->Arg(8)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_MoE_gpu)->Name("MoE_gpu")->Arg(8)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseManualTime();
BENCHMARK(BM_MoE_masked_oracle)->Arg(8)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace peer

BENCHMARK_MAIN();
