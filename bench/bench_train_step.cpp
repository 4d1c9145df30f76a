// One training step (batch, then the trainer's train_on_batch: forward, backward, gradient
// clipping where the config clips, AdamW) of the language model the config describes, on random
// tokens like the PyTorch reference (`../shared/ref/makemoe_ref.py`, vocab 65): the makeMoE shape
// with a dense FFN, and with makeMoE's sparse MoE (8 experts, noisy top-2, dropless, no aux
// loss), both without gradient clipping as in the reference; and PEER
// (experiments/configs/peer.toml). Each run starts with untimed warm-up steps, as the reference.
// Counters: tokens/s and the process's peak resident memory (run one benchmark per process for a
// clean peak):
//   build/bench/peer_bench_train_step --benchmark_filter='TrainStep/moe/2'
#include <sys/resource.h>

#include <benchmark/benchmark.h>

#include "core/data/text_dataset.h"
#include "core/optim/adamw.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "experiments/run/model_factory.h"
#include "experiments/run/train_step.h"

namespace peer {
namespace {

constexpr int kWarmupSteps = 5;  // makemoe_ref.py's default --warmup

void train_step(benchmark::State& state, const Config& c) {
  const int64_t vocab = 65, B = c.train.batch_size, T = c.model.block_size;
  set_num_threads(int(c.train.threads));
  auto model = build_model(c, vocab);
  AdamW opt(model->parameters(), AdamWOptions{});
  Philox rng(1, kStreamData);
  std::vector<int32_t> tokens(100000);
  for (size_t i = 0; i < tokens.size(); ++i) tokens[i] = int32_t(rng.below(vocab, i));
  TextDataset data(tokens, 0.1);
  std::vector<int32_t> x, y;
  uint64_t step = 0;
  auto one_step = [&] {
    data.batch(Split::Train, B, T, 1, kStreamData, step, x, y);
    std::optional<double> loss = train_on_batch(*model, opt, x, y, B, T, step, c.train.grad_clip, 1e-3, nullptr);
    benchmark::DoNotOptimize(loss);
    ++step;
  };
  // Untimed warm-up steps, as the reference's --warmup: first-touch page faults and the
  // buffers' first allocation are not part of a training step's cost.
  for (int i = 0; i < kWarmupSteps; ++i) one_step();
  for (auto _ : state) one_step();
  state.counters["tokens_per_s"] = benchmark::Counter(double(B * T), benchmark::Counter::kIsIterationInvariantRate);
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  state.counters["peak_rss_MB"] = double(u.ru_maxrss) / 1024.0;
}

void BM_TrainStepDense(benchmark::State& state) {
  Config c;  // defaults = the makeMoE shape, dense FFN
  c.train.grad_clip = 0.0;  // makemoe_ref.py does not clip
  c.train.threads = state.range(0);
  train_step(state, c);
}

void BM_TrainStepMoE(benchmark::State& state) {
  Config c;
  c.model.ffn = "moe";
  c.moe.capacity_factor = 0.0;  // makeMoE is dropless and has no auxiliary loss
  c.moe.load_balance_coef = c.moe.z_loss_coef = 0.0;
  c.train.grad_clip = 0.0;
  c.train.threads = state.range(0);
  train_step(state, c);
}

// experiments/configs/peer.toml: PEER in every block, 128^2 experts, 8 heads x top-16, d_key 64.
void BM_TrainStepPeer(benchmark::State& state) {
  Config c;
  c.model.ffn = "peer";
  c.peer.num_experts = 16384;
  c.peer.d_key = 64;
  c.train.threads = state.range(0);
  train_step(state, c);
}

BENCHMARK(BM_TrainStepDense)->Name("TrainStep/dense")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_TrainStepMoE)->Name("TrainStep/moe")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_TrainStepPeer)->Name("TrainStep/peer")->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

}  // namespace
}  // namespace peer

BENCHMARK_MAIN();
