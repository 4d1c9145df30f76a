// `peer train`'s run: data, model and AdamW (warmup + cosine) in a run folder, the training loop
// (train_loop.h) with periodic train/val estimates and atomic checkpoints, exact resume, and
// summary.json at the end.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/nn/transformer.h"
#include "core/optim/adamw.h"
#include "experiments/run/config.h"
#include "experiments/run/data.h"
#include "experiments/run/exit_code.h"
#include "experiments/run/run_folder.h"

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
  // resume is set (refusing a config that changes a key not marked resumable). Throws InputError
  // for bad input before anything on disk changes; holds the folder's RunLock from then on.
  Trainer(const Config& config, const std::string& out_dir, bool resume);
  // Trains to the end (kExitOk), or stops at a non-finite loss or state (kExitFailed, the last
  // finite checkpoint kept) or at Ctrl-C (a checkpoint, kExitInterrupted). A failed write throws,
  // naming the file and the checkpoint kept.
  RunResult run();

  LanguageModel& model() { return *model_; }
  const RunData& data() const { return data_; }

 private:
  void evaluate(int64_t step, RunResult& r, double elapsed_s);
  void checkpoint(int64_t step);
  void check_resumable(const CheckpointInfo& info) const;
  std::string kept_checkpoint() const;  // what a failed run leaves, as a sentence
  void write_summary(const RunResult& r, int64_t params);

  Config config_;
  std::string dir_;
  std::optional<RunLock> lock_;
  RunData data_;
  std::unique_ptr<LanguageModel> model_;
  std::unique_ptr<AdamW> opt_;
  int64_t start_step_ = 0;  // the step of the last checkpoint
  double best_val_loss_ = 1e300;
  double elapsed_before_ = 0.0;  // run time before the resumed checkpoint
};

}  // namespace peer
