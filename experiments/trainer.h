// The training harness: data, model, AdamW with warmup + cosine, periodic train/val estimates,
// metrics.jsonl, atomic checkpoints, exact resume, Ctrl-C handling and NaN stops.
#pragma once

#include <memory>
#include <string>

#include "core/optim/adamw.h"
#include "core/optim/schedule.h"
#include "experiments/checkpoint.h"
#include "experiments/model_factory.h"
#include "experiments/run_data.h"

namespace peer {

enum ExitCode { kExitOk = 0, kExitFailed = 1, kExitUsage = 2, kExitInterrupted = 130 };

struct RunResult {
  int exit_code = kExitOk;
  int64_t steps = 0;
  double final_val_loss = 0.0, best_val_loss = 0.0, final_train_loss = 0.0;
  double tokens_per_s = 0.0;  // training steps of this session only
  double wall_s = 0.0;        // the whole run, across resumes
};

// Ctrl-C and SIGTERM set a flag that Trainer::run checks after every step (it writes a
// checkpoint and returns kExitInterrupted). run() installs the handler; a caller that runs
// several trainings (a sweep) installs it first and checks the flag between them.
void install_interrupt_handler();
bool interrupt_requested();

class Trainer {
 public:
  // Prepares the run folder, data, model and optimizer; restores DIR/checkpoint.safetensors when
  // resume is set. Throws InputError for bad input before anything on disk changes.
  Trainer(const Config& config, const std::string& out_dir, bool resume);
  RunResult run();

  LanguageModel& model() { return *model_; }
  const RunData& data() const { return data_; }

 private:
  double train_step(int64_t step, std::vector<int32_t>& x, std::vector<int32_t>& y, double* grad_norm);
  void evaluate(int64_t step, RunResult& r, double elapsed_s);
  void checkpoint(int64_t step);
  void log(const std::string& json_line);
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

std::string checkpoint_path(const std::string& dir);
AdamWOptions adamw_options(const Config& c);
LrSchedule lr_schedule(const Config& c);

}  // namespace peer
