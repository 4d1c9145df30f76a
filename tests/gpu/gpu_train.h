// Whole training steps on the GPU against the CPU (tests/gpu/test_gpu_*_step.cpp): a model and its
// optimizer on one device, Philox batches that are the same on every run, the loss of each step,
// and the comparisons the step tests share.
#pragma once

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <memory>
#include <vector>

#include "core/allocator.h"
#include "core/rng.h"
#include "experiments/run/model_factory.h"
#include "experiments/run/train_step.h"

namespace peer::gpu_train {

struct Run {
  std::unique_ptr<LanguageModel> model;
  std::unique_ptr<AdamW> opt;
};

inline Run make_run(const Config& c, int64_t vocab, Device d) {
  Run r{build_model(c, vocab), nullptr};
  r.opt = std::make_unique<AdamW>(r.model->parameters(), adamw_options(c));
  r.model->to(d);
  r.opt->to(d);
  return r;
}

// Step s's batch: Philox tokens, the same on every run.
inline void batch(int64_t s, int64_t n, int64_t vocab, std::vector<int32_t>& x, std::vector<int32_t>& y) {
  const Philox rng(7, kStreamData);
  x.resize(n);
  y.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = int32_t(rng.below(uint64_t(vocab), uint64_t(s * 2 * n + i)));
    y[i] = int32_t(rng.below(uint64_t(vocab), uint64_t(s * 2 * n + n + i)));
  }
}

// The loss of each of `steps` steps (read every step), starting at step `first`.
inline std::vector<double> train(Run& r, const Config& c, int64_t vocab, int64_t steps, int64_t first = 0) {
  const int64_t B = c.train.batch_size, T = c.model.block_size;
  std::vector<int32_t> x, y;
  std::vector<double> losses;
  for (int64_t s = first; s < first + steps; ++s) {
    batch(s, B * T, vocab, x, y);
    losses.push_back(*train_on_batch(*r.model, *r.opt, x, y, B, T, uint64_t(s), c.train.grad_clip, 1e-3, nullptr));
  }
  return losses;
}

// Steps whose losses differ by more than atol + rtol * |cpu| (each reported).
inline int curves_apart(const std::vector<double>& cpu, const std::vector<double>& gpu, double atol, double rtol) {
  int bad = 0;
  for (size_t s = 0; s < cpu.size(); ++s)
    if (!(std::fabs(cpu[s] - gpu[s]) <= atol + rtol * std::fabs(cpu[s]))) {
      UNSCOPED_INFO("step " << s << ": cpu " << cpu[s] << " gpu " << gpu[s]);
      ++bad;
    }
  return bad;
}

// Every parameter of the GPU model within atol + rtol * |cpu| of the CPU model's (each checked).
inline void check_params_close(LanguageModel& cpu, LanguageModel& gpu, double atol, double rtol) {
  const std::vector<Parameter*> pc = cpu.parameters(), pg = gpu.parameters();
  for (size_t i = 0; i < pc.size(); ++i) {
    const Tensor g = pg[i]->value.to(Device::CPU);
    double worst = 0.0;
    for (int64_t j = 0; j < g.numel(); ++j)
      worst = std::max(worst, std::fabs(double(g[j]) - pc[i]->value[j]) - (atol + rtol * std::fabs(pc[i]->value[j])));
    INFO(pc[i]->name << " " << pc[i]->value.shape_str() << ": worst excess over " << atol << " + " << rtol
                     << "|cpu| = " << worst);
    CHECK(worst <= 0.0);
  }
}

// The run-to-run checks every GPU step test makes: two GPU runs of c train 100 steps each; after
// the first run's first 5 steps no cudaMalloc happens and the memory in use stays the same; the
// two runs' losses, and then every parameter, are equal bit for bit.
inline void check_repeatable_flat_memory(const Config& c, int64_t vocab) {
  Run first = make_run(c, vocab, Device::CUDA);
  std::vector<double> a = train(first, c, vocab, 5);
  const int64_t mallocs = cuda_memory_stats().raw_allocations;
  const size_t in_use = cuda_memory_stats().in_use;
  const std::vector<double> a_rest = train(first, c, vocab, 95, 5);
  CHECK(cuda_memory_stats().raw_allocations == mallocs);
  CHECK(cuda_memory_stats().in_use == in_use);
  a.insert(a.end(), a_rest.begin(), a_rest.end());
  Run second = make_run(c, vocab, Device::CUDA);
  CHECK(a == train(second, c, vocab, 100));
  const std::vector<Parameter*> p1 = first.model->parameters(), p2 = second.model->parameters();
  int64_t differ = 0;
  for (size_t i = 0; i < p1.size(); ++i) {
    const Tensor x = p1[i]->value.to(Device::CPU), y = p2[i]->value.to(Device::CPU);
    for (int64_t j = 0; j < x.numel(); ++j) differ += std::memcmp(x.data() + j, y.data() + j, sizeof(float)) != 0;
  }
  CHECK(differ == 0);
}

}  // namespace peer::gpu_train
