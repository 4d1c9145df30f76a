// `peer train`'s run: data, model and AdamW (warmup + cosine) in a run folder, the training loop
// (train_loop.h) with periodic train/val estimates and atomic checkpoints, exact resume, and
// summary.json at the end.
#pragma once

#include <memory>
#include <string>

#include "core/nn/transformer.h"
#include "core/optim/adamw.h"
#include "experiments/run/config.h"
#include "experiments/run/data.h"
#include "experiments/run/exit_code.h"

namespace peer {

struct RunResult {
  int exit_code = kExitOk;
  int64_t steps = 0;
  double final_val_loss = 0.0, best_val_loss = 0.0, final_train_loss = 0.0;
  double tokens_per_s = 0.0;  // training steps of this session only
  double wall_s = 0.0;        // the whole run, across resumes
};

class Trainer {
 public:
  // Prepares the run folder, data, model and optimizer; restores DIR/checkpoint.safetensors when
  // resume is set. Throws InputError for bad input before anything on disk changes.
  Trainer(const Config& config, const std::string& out_dir, bool resume);
  // Trains to the end (kExitOk), or stops at a non-finite loss (kExitFailed) or at Ctrl-C
  // (a checkpoint, kExitInterrupted).
  RunResult run();

  LanguageModel& model() { return *model_; }
  const RunData& data() const { return data_; }

 private:
  void evaluate(int64_t step, RunResult& r, double elapsed_s);
  void checkpoint(int64_t step);
  void write_summary(const RunResult& r, int64_t params);

  Config config_;
  std::string dir_;
  RunData data_;
  std::unique_ptr<LanguageModel> model_;
  std::unique_ptr<AdamW> opt_;
  int64_t start_step_ = 0;  // the step of the last checkpoint
  double best_val_loss_ = 1e300;
  double elapsed_before_ = 0.0;  // run time before the resumed checkpoint
};

}  // namespace peer
