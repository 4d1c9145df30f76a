// The training harness: data, model, AdamW with warmup + cosine, periodic train/val estimates,
// metrics.jsonl, atomic checkpoints, exact resume, Ctrl-C handling and NaN stops.
#pragma once

#include <memory>
#include <string>

#include "core/optim/adamw.h"
#include "core/optim/schedule.h"
#include "experiments/run/checkpoint.h"
#include "experiments/run/model_factory.h"
#include "experiments/run/data.h"

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
std::string metrics_path(const std::string& dir);
// A run folder of an experiment must hold the config the experiment now resolves to (its
// config.toml), or its results would silently describe something else: InputError otherwise,
// naming the first differing line.
void require_same_config(const std::string& dir, const Config& want, const std::string& who);
// One optimisation step on the batch x -> y (B*T tokens each): forward, backward, gradient
// clipping (grad_clip <= 0: none), AdamW at learning rate lr. `step` keys dropout and router
// noise. Returns the loss; a non-finite loss skips backward and update. grad_norm: where to put
// the gradient norm before clipping; null when not wanted (then, without clipping, it is not
// computed).
double train_on_batch(LanguageModel& model, AdamW& opt, const std::vector<int32_t>& x, const std::vector<int32_t>& y,
                      int64_t B, int64_t T, uint64_t step, double grad_clip, double lr, double* grad_norm);

struct KeptMetrics {
  double best_val_loss = 1e300;  // of the kept "split":"val" rows
  double elapsed_s = 0.0;        // of the last kept row that has it
};
// A resumed run rewrites what came after its checkpoint: keeps only metrics lines at or before
// `step` (a torn last line is dropped).
KeptMetrics truncate_metrics(const std::string& path, int64_t step);
// Peak resident memory (MB) since the last reset_peak_rss() (Linux; else the process's peak).
void reset_peak_rss();
double peak_rss_mb();
AdamWOptions adamw_options(const Config& c);
LrSchedule lr_schedule(const Config& c);

}  // namespace peer
