#include "experiments/run/trainer.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "absl/strings/str_join.h"
#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "experiments/run/device.h"
#include "experiments/run/evaluate.h"
#include "experiments/run/interrupt.h"
#include "experiments/run/metrics_log.h"
#include "experiments/run/model_factory.h"
#include "experiments/run/peak_memory.h"
#include "experiments/run/progress.h"
#include "experiments/run/provenance.h"
#include "experiments/run/run_folder.h"
#include "experiments/run/train_loop.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace peer {

namespace {
std::string nan_or_inf(double v) { return std::isnan(v) ? "nan" : "inf"; }
}  // namespace

Trainer::Trainer(const Config& config, const std::string& out_dir, bool resume) : config_(config), dir_(out_dir) {
  reset_peak_rss();
  const Device device = run_device(config_, "[train]");
  std::optional<CheckpointInfo> info;
  if (resume) {
    info = find_checkpoint(dir_);
    if (!info) throw InputError("--resume '" + dir_ + "': no checkpoint.safetensors there");
    check_resumable(*info);
    start_step_ = info->step;
  } else if (holds_run_files(dir_)) {
    throw InputError("output folder '" + dir_ + "' already holds files; use --resume " + dir_ +
                     " to continue it, or another --out");
  }
  data_ = load_run_data(config_, info ? std::optional<Tokenizer>(info->tokenizer) : std::nullopt);
  set_num_threads(int(config_.train.threads));
  OpenedRun run = open_run(dir_, config_, data_.tokenizer.vocab_size(), info, true);
  model_ = std::move(run.model);
  opt_ = std::move(run.opt);
  model_->to(device);
  opt_->to(device);
  // Locked before the first write, all checks done: a refused run changes nothing. What was
  // read before must still be there: another process may have trained in the folder meanwhile.
  lock_.emplace(dir_);
  const std::optional<CheckpointInfo> now = find_checkpoint(dir_);
  if (resume ? !now || now->step != start_step_ : holds_run_files(dir_))
    throw InputError("run folder '" + dir_ + "' changed while this run started (another process trained in it); "
                     "try again");
  if (resume) {
    KeptMetrics kept = truncate_metrics(metrics_path(dir_), start_step_);
    best_val_loss_ = kept.best_val_loss;
    elapsed_before_ = kept.elapsed_s;
  }
  write_run_config(dir_, config_);
}

void Trainer::check_resumable(const CheckpointInfo& info) const {
  const std::string file = checkpoint_path(dir_);
  if (info.step < 0)
    throw InputError(file + ": step " + std::to_string(info.step) + " is negative (a damaged checkpoint)");
  if (info.step >= config_.total_steps())
    throw InputError("run '" + dir_ + "' already finished (step " + std::to_string(info.step) + " of " +
                     std::to_string(config_.total_steps()) + "); to train longer, add --set train.steps=N");
  const std::vector<std::string> changed =
      fixed_key_changes(with_absolute_paths(info.config), with_absolute_paths(config_));
  if (!changed.empty())
    throw InputError("--resume '" + dir_ + "': " + file + " holds a model of another shape or config: " +
                     absl::StrJoin(changed, ", ") + ". Only the keys marked 'may change on --resume' in `peer config "
                     "keys` may change; train the new config with another --out");
}

void Trainer::checkpoint(int64_t step) {
  save_checkpoint(checkpoint_path(dir_), *model_, opt_.get(), config_, data_.tokenizer, step);
}

void Trainer::evaluate(int64_t step, RunResult& r, double elapsed_s) {
  const int64_t nb = config_.train.eval_batches;
  model_->reset_stats();
  double train = estimate_loss(*model_, *data_.dataset, Split::Train, config_, nb);
  double val = estimate_loss(*model_, *data_.dataset, Split::Val, config_, nb);
  for (auto [split, loss] : {std::pair{"train", train}, {"val", val}})  // before the row: no null losses
    if (!std::isfinite(loss))
      throw NonFiniteError(std::string(split) + " loss is " + nan_or_inf(loss) + " at step " + std::to_string(step));
  json row = {{"step", step}, {"split", "val"}, {"loss", val}, {"train_loss", train}, {"elapsed_s", elapsed_s}};
  Stats stats;
  model_->stats(stats);
  for (const auto& [k, v] : stats) row[k] = v.size() == 1 ? json(v[0]) : json(v);
  append_metrics(dir_, row);
  r.final_val_loss = val;
  r.final_train_loss = train;
  r.best_val_loss = best_val_loss_ = std::min(best_val_loss_, val);
}

RunResult Trainer::run() {
  const Config& c = config_;
  const int64_t total = c.total_steps(), first = start_step_;
  install_interrupt_handler();
  Progress progress(total, c.train.log_every);
  RunResult r;
  const auto t_run = std::chrono::steady_clock::now();
  // Run time across resumes (approximate after an interrupt: the time since the last logged row
  // before the checkpoint is lost).
  auto elapsed = [&] {
    return elapsed_before_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - t_run).count();
  };
  TrainLoop loop = train_loop_for(c);
  loop.first = loop.counted_from = first;
  loop.next_batch = [&](int64_t step, std::vector<int32_t>& x, std::vector<int32_t>& y) {
    data_.dataset->batch(Split::Train, c.train.batch_size, c.model.block_size, uint64_t(c.train.seed), kStreamData,
                         uint64_t(step), x, y);
  };
  loop.add_fields = [&](json& row) { row["elapsed_s"] = elapsed(); };
  loop.after_step = [&](int64_t done) {
    if (done % c.train.eval_every != 0 && done != total) return;
    evaluate(done, r, elapsed());
    progress.eval(done, r.final_train_loss, r.final_val_loss);
    checkpoint(done);
    start_step_ = done;
  };
  LoopEnd end;
  try {
    end = train_loop(*model_, *opt_, loop, progress, dir_);
    if (end.stop == LoopStop::NonFinite)
      throw NonFiniteError("loss is " + nan_or_inf(end.loss) + " at step " + std::to_string(end.step));
    if (end.stop == LoopStop::Interrupted) checkpoint(end.step);
  } catch (const NonFiniteError& e) {  // a divergence fails the run (in a sweep: this variant)
    std::cerr << "\n[train] " << e.what() << "; stopping. " << kept_checkpoint() << "\n";
    r.exit_code = kExitFailed;
    return r;
  } catch (const InputError&) {
    throw;
  } catch (const std::exception& e) {  // a write that failed (a full disk): stops everything
    throw std::runtime_error(std::string(e.what()) + ". " + kept_checkpoint());
  }
  if (end.stop == LoopStop::Interrupted) {
    std::cerr << "\n[train] interrupted at step " << end.step << "; checkpoint written to " << dir_
              << " (continue with --resume " << dir_ << ")\n";
    r.exit_code = kExitInterrupted;
    return r;
  }
  progress.finish();
  r.steps = total;
  r.tokens_per_s = end.seconds > 0 ? double(c.train.batch_size * c.model.block_size * (total - first)) / end.seconds : 0.0;
  r.wall_s = elapsed();
  write_summary(r, count_parameters(*model_));
  return r;
}

std::string Trainer::kept_checkpoint() const {
  return start_step_ > 0 ? "The last good checkpoint (step " + std::to_string(start_step_) + ") is kept in " + dir_
                         : "No checkpoint was written yet.";
}

void Trainer::write_summary(const RunResult& r, int64_t params) {
  const Config& c = config_;
  const Provenance prov = current_provenance(c);
  json s = {{"steps", r.steps},
            {"tokens", r.steps * c.train.batch_size * c.model.block_size},
            {"final_val_loss", r.final_val_loss},
            {"best_val_loss", r.best_val_loss},
            {"final_train_loss", r.final_train_loss},
            {"tokens_per_s", r.tokens_per_s},
            {"wall_s", r.wall_s},
            {"parameters", params},
            {"peak_rss_mb", peak_rss_mb()},
            {"threads", c.train.threads},
            {"device", c.train.device},
            {"device_name", prov.device},
            {"commit", prov.commit},
            {"date", prov.date}};
  // GPU memory in use at its highest (caching allocator: blocks handed out, not cached ones).
  if (model_->device() == Device::CUDA) s["peak_device_mb"] = double(cuda_memory_stats().peak_in_use) / (1 << 20);
  write_file_atomic((fs::path(dir_) / "summary.json").string(), s.dump(2) + "\n");
}

}  // namespace peer
