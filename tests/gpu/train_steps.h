// Whole training steps of a small model on either device, for the GPU step tests (dense and MoE):
// a model and its AdamW built from a config and moved to a device, Philox batches that are the
// same on every run, and the loss of each step.
#pragma once

#include <memory>
#include <vector>

#include "core/rng.h"
#include "experiments/run/model_factory.h"
#include "experiments/run/train_step.h"

namespace peer::test {

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

// The loss of each of `steps` steps (read every step), continuing from step `first`.
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

}  // namespace peer::test
