// One training step of a single PEER layer, as `../shared/ref/peer_ref.py` times it: forward,
// MSE loss to a fixed random target, backward, Adam step (row-sparse lazy, or dense Adam over
// every expert row). Default shape: N = 2^20 experts, d = 256, 8 heads, top-16, d_key 128,
// 1024 tokens, one untimed warm-up step. Counters: tokens/s, the median step (the reference's
// statistic) and the process's peak resident memory; run one
// variant per process so the peak belongs to it:
//   build/bench/peer_bench_peer_layer --benchmark_filter=PeerStep/lazy
// PeerStep/cuda (a CUDA build on a GPU machine; skipped otherwise): the same step on the GPU at the
// issue's shape, N = 2^20, 32,768 tokens (BatchNorm on), timed with CUDA events; loss
// sum((y - target)^2) / 2. Counters: tokens/s, the forward's time against its floor (the
// retrieved rows of U and V, 2 * tokens * h * k * d * 4 bytes), and the step's minimum bytes
// (those rows read in the forward and again in the backward, plus per touched row of U and V its
// gradient written and AdamW's reads of w, m, v, g and writes of w, m, v) with the fraction of
// the device's peak bandwidth they reach.
#include <sys/resource.h>

#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <vector>

#include "core/cuda/device.h"
#include "core/ops/add.h"
#include "core/optim/adamw.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "peer/peer_layer.h"
#include "peer/product_keys.h"

namespace peer {
namespace {

double peak_rss_gib() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / (1024.0 * 1024.0);
}

void peer_step(benchmark::State& state, bool lazy) {
  const int64_t n = state.range(0), d = 256, T = 1024;
  set_num_threads(2);
  PeerOptions o;
  o.heads = 8;
  o.top_k = 16;
  o.d_key = 128;
  o.query_batchnorm = false;
  PeerLayer layer("peer", d, o, PoolShape{n, n}, InitScheme::Kaiming, 1);
  AdamWOptions ao;
  ao.weight_decay = 0.0f;
  ao.lazy_sparse = lazy;
  AdamW opt(layer.parameters(), ao);
  Tensor x({T, d}), target({T, d}), dy({T, d});
  Philox rng(7, 1);
  for (int64_t i = 0; i < T * d; ++i) {
    x[i] = rng.normal(uint64_t(i));
    target[i] = rng.normal(uint64_t(i + T * d));
  }
  auto step = [&] {
    layer.zero_grad();
    const Tensor& y = layer.forward(x, true, 0);
    for (int64_t i = 0; i < T * d; ++i) dy[i] = 2.0f * (y[i] - target[i]) / float(T * d);
    layer.backward(dy);
    opt.step(1e-3f);
  };
  step();  // warm-up, untimed: the reference skips its first step too
  std::vector<double> ms;
  for (auto _ : state) {
    auto t0 = std::chrono::steady_clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  // The reference reports the median step; so does this counter (real_time is the mean).
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  state.counters["median_step_ms"] = ms[ms.size() / 2];
  state.counters["tokens_per_s"] = benchmark::Counter(double(T), benchmark::Counter::kIsIterationInvariantRate);
  state.counters["experts"] = double(n * n);
  state.counters["peak_rss_GiB"] = peak_rss_gib();
  // Parameters + Adam moments: 3 copies of U, V (N x d each) and of the small tables.
  double params = 0;
  for (const Parameter* p : layer.parameters()) params += double(p->value.numel());
  state.counters["params_and_adam_GiB"] = 3.0 * params * 4.0 / (1024.0 * 1024.0 * 1024.0);
}

void peer_step_cuda(benchmark::State& state) {
  const int64_t n = state.range(0), T = state.range(1), d = 256;
  if (cuda::device_count() == 0) {
    state.SkipWithError("no CUDA device");
    return;
  }
  PeerOptions o;
  o.heads = 8;
  o.top_k = 16;
  o.d_key = 128;
  PeerLayer layer("peer", d, o, PoolShape{n, n}, InitScheme::Kaiming, 1);
  layer.to(Device::CUDA);
  AdamWOptions ao;
  ao.weight_decay = 0.0f;
  AdamW opt(layer.parameters(), ao);
  opt.to(Device::CUDA);
  Tensor x({T, d}), minus_target({T, d}), dy;
  Philox rng(7, 1);
  for (int64_t i = 0; i < T * d; ++i) {
    x[i] = rng.normal(uint64_t(i));
    minus_target[i] = -rng.normal(uint64_t(i + T * d));
  }
  x = x.to(Device::CUDA);
  minus_target = minus_target.to(Device::CUDA);
  auto step = [&] {
    layer.zero_grad();
    add(layer.forward(x, true, 0), minus_target, dy);
    layer.backward(dy);
    opt.step(1e-3f);
  };
  step();  // warm-up: cuBLAS handle, allocator, caches
  std::vector<double> ms;
  for (auto _ : state) ms.push_back(cuda::device_ms(step));
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  const double step_s = ms[ms.size() / 2] * 1e-3;
  const double forward_s = cuda::device_ms([&] { layer.forward(x, true, 0); }) * 1e-3;
  const double A = double(T * o.heads * o.top_k), row = double(d) * 4.0;
  const double rows_u = double(layer.pools[0]->U.sparse_grad.host_rows().size());  // touched rows
  const double forward_bytes = 2.0 * A * row, step_bytes = 2.0 * forward_bytes + 2.0 * rows_u * 8.0 * row;
  const double peak = cuda::peak_bandwidth();
  state.counters["median_step_ms"] = step_s * 1e3;
  state.counters["tokens_per_s"] = double(T) / step_s;
  state.counters["forward_ms"] = forward_s * 1e3;
  state.counters["forward_floor_ms"] = forward_bytes / peak * 1e3;
  state.counters["step_min_GB"] = step_bytes * 1e-9;
  state.counters["step_of_peak_bw"] = step_bytes / step_s / peak;
  state.counters["touched_rows"] = rows_u;
}

void BM_PeerStep_lazy(benchmark::State& s) { peer_step(s, true); }
void BM_PeerStep_dense(benchmark::State& s) { peer_step(s, false); }
// Fixed iteration counts: building 2^20 experts takes seconds, and Google Benchmark would
// rebuild them for its calibration runs.
BENCHMARK(BM_PeerStep_lazy)->Name("PeerStep/lazy")->Arg(1024)->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
BENCHMARK(BM_PeerStep_dense)->Name("PeerStep/dense")->Arg(1024)->Arg(128)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(5);
BENCHMARK(peer_step_cuda)->Name("PeerStep/cuda")->Args({1024, 32768})->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(10);

}  // namespace
}  // namespace peer

BENCHMARK_MAIN();
