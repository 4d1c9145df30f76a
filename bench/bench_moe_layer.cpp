// The MoE layer's forward + backward as E grows with active parameters held fixed (top-2 of
// experts with d_expert = 256, d = 256, 2048 tokens): sparse dispatch should cost about the same
// per token at E = 8, 64 and 256, while the dense masking oracle (every expert on every token)
// grows with E. Also times the dispatch alone (router + capacity plan) to show its overhead.
//   build/bench/peer_bench_moe_layer
#include <benchmark/benchmark.h>

#include "core/parallel.h"
#include "core/rng.h"
#include "moe/sparse_moe.h"

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
BENCHMARK(BM_MoE_masked_oracle)->Arg(8)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace peer

BENCHMARK_MAIN();
