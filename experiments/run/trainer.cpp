#include "experiments/run/trainer.h"

#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/cuda/device.h"
#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/optim/schedule.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "experiments/run/progress.h"
#include "experiments/run/provenance.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace peer {

namespace {
std::atomic<bool> g_interrupted{false};
void on_signal(int) { g_interrupted = true; }
}  // namespace

void install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

bool interrupt_requested() { return g_interrupted; }

LrSchedule lr_schedule(const Config& c) {
  return {c.train.lr, c.train.warmup_steps, c.total_steps(), c.train.min_lr_ratio};
}

AdamWOptions adamw_options(const Config& c) {
  AdamWOptions o;
  o.weight_decay = float(c.train.weight_decay);
  o.lazy_sparse = c.train.sparse_adam == "lazy";
  return o;
}

std::string metrics_path(const std::string& dir) { return (fs::path(dir) / "metrics.jsonl").string(); }

KeptMetrics truncate_metrics(const std::string& path, int64_t step) {
  std::ifstream in(path);
  std::string line, kept;
  KeptMetrics m;
  while (std::getline(in, line)) {
    try {
      json row = json::parse(line);
      if (row.at("step").get<int64_t>() > step) continue;
      kept += line + "\n";
      if (row.at("split") == "val") m.best_val_loss = std::min(m.best_val_loss, row.at("loss").get<double>());
      if (row.contains("elapsed_s")) m.elapsed_s = row.at("elapsed_s").get<double>();
    } catch (const json::exception&) {
      // A torn last line from a killed run: dropped.
    }
  }
  write_file_atomic(path, kept);
  return m;
}

// Peak resident memory is kept per process; so that each run of a sweep reports its own peak,
// Linux's high-water mark is reset when a Trainer starts (clear_refs "5") and read from
// /proc/self/status. Where the reset is refused this is the process's lifetime peak, and
// without /proc, getrusage's.
void reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
}

double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // "VmHWM:  1234 kB"
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;
}

void require_same_config(const std::string& dir, const Config& want_config, const std::string& who) {
  const fs::path file = fs::path(dir) / "config.toml";
  const std::string want = to_toml(want_config), have = fs::is_regular_file(file) ? read_file(file.string()) : "";
  if (want == have) return;
  std::istringstream a(have), b(want);
  std::string la, lb, section;
  while (std::getline(b, lb)) {
    if (!std::getline(a, la)) la = "(missing)";
    if (!lb.empty() && lb[0] == '[') section = lb;
    if (la != lb) break;
  }
  throw InputError(who + ": " + dir + " was trained with another config (" + section + " " + la + ", now " + lb +
                   "); use another --out, or delete that folder to retrain it");
}

std::string checkpoint_path(const std::string& dir) { return (fs::path(dir) / "checkpoint.safetensors").string(); }

double train_on_batch(LanguageModel& model, AdamW& opt, const std::vector<int32_t>& x, const std::vector<int32_t>& y,
                      int64_t B, int64_t T, uint64_t step, double grad_clip, double lr, double* grad_norm) {
  model.zero_grad();
  double loss = model.forward(x.data(), y.data(), B, T, true, step);
  if (!std::isfinite(loss)) return loss;
  model.backward();
  if (grad_clip > 0.0 || grad_norm) {  // a pass over every gradient: skipped when nobody needs it
    double gn = clip_grad_norm(model.parameters(), grad_clip);
    if (grad_norm) *grad_norm = gn;
  }
  opt.step(float(lr));
  return loss;
}

Trainer::Trainer(const Config& config, const std::string& out_dir, bool resume) : config_(config), dir_(out_dir) {
  reset_peak_rss();
  if (config_.train.device == "cuda") cuda::refuse("[train] train.device = \"cuda\"", "the training step");
  std::optional<Tokenizer> vocab;
  CheckpointInfo info;
  if (resume) {
    if (!fs::is_regular_file(checkpoint_path(dir_)))
      throw InputError("--resume '" + dir_ + "': no checkpoint.safetensors there");
    info = read_checkpoint_info(checkpoint_path(dir_));
    vocab = info.tokenizer;
    start_step_ = info.step;
  } else if (fs::exists(dir_) && !fs::is_empty(dir_)) {
    throw InputError("output folder '" + dir_ + "' already holds files; use --resume " + dir_ +
                     " to continue it, or another --out");
  }
  if (resume && start_step_ >= config_.total_steps())
    throw InputError("run '" + dir_ + "' already finished (step " + std::to_string(start_step_) + " of " +
                     std::to_string(config_.total_steps()) + "); to train longer, add --set train.steps=N");
  data_ = load_run_data(config_, vocab);
  set_num_threads(int(config_.train.threads));
  model_ = build_model(config_, data_.tokenizer.vocab_size());
  if (resume) restore_structure(*model_, info);
  opt_ = std::make_unique<AdamW>(model_->parameters(), adamw_options(config_));
  if (resume) {
    load_checkpoint(checkpoint_path(dir_), *model_, opt_.get());
    KeptMetrics kept = truncate_metrics(metrics_path(dir_), start_step_);
    best_val_loss_ = kept.best_val_loss;
    elapsed_before_ = kept.elapsed_s;
  }
  fs::create_directories(dir_);
  write_file_atomic((fs::path(dir_) / "config.toml").string(), to_toml(config_));
}

void Trainer::log(const std::string& json_line) {
  std::ofstream f(metrics_path(dir_), std::ios::app);
  f << json_line << "\n";
}

void Trainer::checkpoint(int64_t step) {
  save_checkpoint(checkpoint_path(dir_), *model_, opt_.get(), config_, data_.tokenizer, step);
}

double Trainer::train_step(int64_t step, std::vector<int32_t>& x, std::vector<int32_t>& y, double* grad_norm) {
  const Config& c = config_;
  data_.dataset->batch(Split::Train, c.train.batch_size, c.model.block_size, uint64_t(c.train.seed), kStreamData,
                       uint64_t(step), x, y);
  return train_on_batch(*model_, *opt_, x, y, c.train.batch_size, c.model.block_size, uint64_t(step),
                        c.train.grad_clip, lr_schedule(c).at(step), grad_norm);
}

void Trainer::evaluate(int64_t step, RunResult& r, double elapsed_s) {
  const int64_t nb = config_.train.eval_batches;
  model_->reset_stats();
  double train = estimate_loss(*model_, *data_.dataset, Split::Train, config_, nb);
  double val = estimate_loss(*model_, *data_.dataset, Split::Val, config_, nb);
  json row = {{"step", step}, {"split", "val"}, {"loss", val}, {"train_loss", train}, {"elapsed_s", elapsed_s}};
  Stats stats;
  model_->stats(stats);
  for (const auto& [k, v] : stats) row[k] = v.size() == 1 ? json(v[0]) : json(v);
  log(row.dump());
  r.final_val_loss = val;
  r.final_train_loss = train;
  r.best_val_loss = best_val_loss_ = std::min(best_val_loss_, val);
}

RunResult Trainer::run() {
  const Config& c = config_;
  const int64_t total = c.total_steps(), tokens_per_step = c.train.batch_size * c.model.block_size;
  install_interrupt_handler();
  Progress progress(total, c.train.log_every);
  RunResult r;
  std::vector<int32_t> x, y;
  const LrSchedule sched = lr_schedule(c);
  auto t_run = std::chrono::steady_clock::now();
  double train_seconds = 0.0;
  // Run time across resumes (approximate after an interrupt: the time since the last logged row
  // before the checkpoint is lost).
  auto elapsed = [&] {
    return elapsed_before_ + std::chrono::duration<double>(std::chrono::steady_clock::now() - t_run).count();
  };
  int64_t steps_done = 0;
  for (int64_t step = start_step_; step < total; ++step) {
    auto t0 = std::chrono::steady_clock::now();
    const bool logged = (step + 1) % c.train.log_every == 0;
    double gn = 0.0, loss = train_step(step, x, y, logged ? &gn : nullptr);
    double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (!std::isfinite(loss)) {
      std::cerr << "\n[train] loss is " << (std::isnan(loss) ? "nan" : "inf") << " at step " << step << "; stopping. "
                << (start_step_ > 0 ? "The last good checkpoint (step " + std::to_string(start_step_) + ") is kept in " + dir_
                                    : std::string("No checkpoint was written yet."))
                << "\n";
      r.exit_code = kExitFailed;
      return r;
    }
    train_seconds += dt;
    ++steps_done;
    double tps = double(tokens_per_step * steps_done) / train_seconds;
    progress.update(step + 1, loss, sched.at(step), tps);
    if (logged)
      log(json{{"step", step + 1}, {"split", "train"}, {"loss", loss}, {"lr", sched.at(step)}, {"grad_norm", gn},
               {"tokens_per_s", tps}, {"elapsed_s", elapsed()}}
              .dump());
    if ((step + 1) % c.train.eval_every == 0 || step + 1 == total) {
      evaluate(step + 1, r, elapsed());
      progress.eval(step + 1, r.final_train_loss, r.final_val_loss);
      checkpoint(step + 1);
      start_step_ = step + 1;
    }
    if (g_interrupted && step + 1 < total) {
      checkpoint(step + 1);
      std::cerr << "\n[train] interrupted at step " << step + 1 << "; checkpoint written to " << dir_
                << " (continue with --resume " << dir_ << ")\n";
      r.exit_code = kExitInterrupted;
      return r;
    }
  }
  progress.finish();
  r.steps = total;
  r.tokens_per_s = train_seconds > 0 ? double(tokens_per_step * steps_done) / train_seconds : 0.0;
  r.wall_s = elapsed();
  write_summary(r, count_parameters(*model_));
  return r;
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
  write_file_atomic((fs::path(dir_) / "summary.json").string(), s.dump(2) + "\n");
}

}  // namespace peer
