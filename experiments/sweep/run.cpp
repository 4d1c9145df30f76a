#include "experiments/sweep/run.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>

#include "experiments/jobs/report_format.h"
#include "experiments/run/accounting.h"
#include "experiments/run/device.h"
#include "experiments/run/data.h"
#include "experiments/run/duration.h"
#include "experiments/run/interrupt.h"
#include "experiments/run/run_folder.h"
#include "experiments/run/trainer.h"
#include "experiments/sweep/eta.h"
#include "experiments/sweep/report.h"
#include "experiments/sweep/summary.h"

namespace fs = std::filesystem;

namespace peer {

namespace {

// A sweep's jobs as planned, variant-major (variant v's seeds one after the other): rows[i] is
// job i's resolved config and accounting (and its results once done).
struct SweepPlan {
  std::vector<SweepRow> rows;
  std::vector<std::string> dirs;
  std::vector<JobState> states;
  std::vector<int64_t> start_steps;  // of the checkpoint a resumed job continues from
};

std::string data_key(const DataConfig& d) {
  std::string k = d.source + "|" + d.dir + "|";
  for (const auto& f : d.files) k += f + ",";
  k += "|";
  for (const auto& g : d.genres) k += g + ",";
  return k;
}

// What DIR holds for `row`: Done (its results loaded into row), Resume from start_step, or New.
JobState read_state(SweepRow& row, const std::string& dir, int64_t& start_step) {
  start_step = 0;
  const bool done = fs::is_regular_file(fs::path(dir) / "summary.json");
  if (!done && !fs::is_regular_file(checkpoint_path(dir))) return JobState::New;
  require_same_config(dir, row.config, "variant '" + row.name + "' seed " + std::to_string(row.seed));
  if (done) {
    load_sweep_results(row, dir);
    return JobState::Done;
  }
  start_step = read_checkpoint_info(checkpoint_path(dir)).step;
  // A checkpoint of the last step without a summary (killed in between) cannot resume.
  return start_step < row.config.total_steps() ? JobState::Resume : JobState::New;
}

SweepPlan plan(const Experiment& e, const std::string& out, bool check_device) {
  std::map<std::string, int64_t> vocab;  // by data config: loading a corpus once is enough
  SweepPlan sp;
  for (const Job& v : e.jobs) {
    SweepRow row;
    row.name = v.name;
    row.sets = v.sets;
    row.config = v.config;
    const std::string key = data_key(v.config.data);
    if (!vocab.count(key)) vocab[key] = load_run_data(v.config).tokenizer.vocab_size();
    apply_budget(row.config, e.budget, vocab[key], e.path + ": variant '" + v.name + "'");
    row.acc = account(row.config, vocab[key]);
    if (check_device) run_device(row.config, "[sweep] variant '" + v.name + "':");
    for (int64_t seed : job_seeds(e, v)) {
      SweepRow job = row;
      job.seed = seed;
      job.config.train.seed = seed;
      sp.dirs.push_back(job_dir(out, "variant", v.name) + "/seed-" + std::to_string(seed));
      int64_t start = 0;
      sp.states.push_back(read_state(job, sp.dirs.back(), start));
      sp.start_steps.push_back(start);
      sp.rows.push_back(std::move(job));
    }
  }
  return sp;
}

double remaining_flops(const SweepPlan& sp, size_t i) {
  const SweepRow& row = sp.rows[i];
  const Config& c = row.config;
  return row.acc.train_flops() * double(c.train.batch_size * c.model.block_size) *
         double(c.total_steps() - (sp.states[i] == JobState::Resume ? sp.start_steps[i] : 0));
}

// Sweep ETA of this process's jobs (sweep/eta.h).
std::string sweep_eta(const SweepPlan& sp, size_t from, const Shard& shard) {
  std::vector<JobCost> finished, pending;
  for (const SweepRow& row : sp.rows)
    if (row.finished) finished.push_back({row.name, row.config.model.ffn, row.training_flops(), row.wall_s});
  for (size_t i = from; i < sp.rows.size(); ++i)
    if (sp.states[i] != JobState::Done && shard.has(i))
      pending.push_back({sp.rows[i].name, sp.rows[i].config.model.ffn, remaining_flops(sp, i)});
  return estimate_eta(finished, pending).describe();
}

std::string job_name(const SweepRow& r) { return r.name + " seed " + std::to_string(r.seed); }

void announce(const SweepPlan& sp, size_t i, const Shard& shard) {
  const SweepRow& row = sp.rows[i];
  std::string s = fmt("[run] job %d/%d '%s' (%s, G %g): %d steps, %s params, %s active/token, %s train FLOPs/token",
                      i + 1, sp.rows.size(), job_name(row), row.config.model.ffn, row.acc.granularity,
                      row.config.total_steps(), si(double(row.acc.total_params)), si(double(row.acc.active_params)),
                      si(row.acc.train_flops()));
  if (sp.states[i] == JobState::Resume) s += fmt("; resuming from its checkpoint at step %d", sp.start_steps[i]);
  std::cerr << s << " | sweep ETA " << sweep_eta(sp, i, shard) << "\n";
}

// Width of the variant-name column: the longest name, at least 16.
int name_width(const std::vector<SweepRow>& rows) {
  size_t w = 16;
  for (const SweepRow& r : rows) w = std::max(w, r.name.size());
  return int(w);
}

// Per variant: its shape and budget, the state of each seed's job (with its shard when
// sharded), then FLOPs per token by component and the variants with too few evaluations.
void print_plan(const SweepPlan& sp, const Shard& shard) {
  const int w = name_width(sp.rows);
  absl::PrintF("%-*s %-11s %6s %7s %5s %8s %8s %10s %11s %11s  %s\n", w, "variant", "ffn", "G", "steps", "evals",
               "tokens", "params", "active/tok", "FFN act/tok", "train FLOPs", "jobs (seed: state)");
  std::string coarse;
  for (size_t i = 0; i < sp.rows.size(); ++i) {
    const SweepRow& r = sp.rows[i];
    if (i > 0 && sp.rows[i - 1].name == r.name) continue;
    const double tokens = double(r.config.total_steps() * r.config.train.batch_size * r.config.model.block_size);
    std::string jobs;
    for (size_t j = i; j < sp.rows.size() && sp.rows[j].name == r.name; ++j)
      jobs += (jobs.empty() ? "" : ", ") + std::to_string(sp.rows[j].seed) + ": " + state_name(sp.states[j]) +
              (shard.count > 1 ? (shard.has(j) ? " (this shard)" : " (other shard)") : "");
    absl::PrintF("%-*s %-11s %6g %7d %5d %8s %8s %10s %11s %11s  %s\n", w, r.name, r.config.model.ffn,
                 r.acc.granularity, r.config.total_steps(), r.evaluations(), si(tokens), si(double(r.acc.total_params)),
                 si(double(r.acc.active_params)), si(double(r.acc.ffn_active_params)),
                 si(r.acc.train_flops() * tokens), jobs);
    if (r.evaluations() < kMinCurvePoints) coarse += (coarse.empty() ? "" : ", ") + r.name;
  }
  absl::PrintF("\nFLOPs per token by component, forward/backward (experiments/run/accounting.h):\n%-*s", w, "variant");
  for (int p = 0; p < kParts; ++p) absl::PrintF(" %13s", part_name(Part(p)));
  absl::PrintF(" %13s\n", "total");
  for (size_t i = 0; i < sp.rows.size(); ++i) {
    const Accounting& a = sp.rows[i].acc;
    if (i > 0 && sp.rows[i - 1].name == sp.rows[i].name) continue;
    absl::PrintF("%-*s", w, sp.rows[i].name);
    for (const Flops& f : a.flops) absl::PrintF(" %13s", si(f.fwd) + "/" + si(f.bwd));
    absl::PrintF(" %13s\n", si(a.forward_flops()) + "/" + si(a.backward_flops()));
  }
  if (!coarse.empty())
    absl::PrintF("\nnote: %s evaluate fewer than %d times (evals = steps / train.eval_every, rounded up): their loss "
                 "curves get fewer than %d points; lower train.eval_every to at most steps / %d\n",
                 coarse, kMinCurvePoints, kMinCurvePoints, kMinCurvePoints);
}

// The finished variants, best mean first, on stdout (report.md has the full tables).
void print_ranking(const std::vector<SweepRow>& rows) {
  const int w = name_width(rows);
  absl::PrintF("%-*s %-11s %6s %5s %14s %11s %18s %8s\n", w, "variant", "ffn", "G", "seeds", "FFN active/tok",
               "train FLOPs", "final val (mean)", "verdict");
  for (const VariantSummary& v : summarize_variants(rows))
    absl::PrintF("%-*s %-11s %6g %5d %14s %11s %11.4f %6s %8s\n", w, v.name, v.first().config.model.ffn,
                 v.first().acc.granularity, v.runs.size(), si(double(v.first().acc.ffn_active_params)),
                 si(v.training_flops), v.final_mean, std::isnan(v.final_std) ? "" : fmt("±%.4f", v.final_std),
                 v.verdict);
}

// Trains job i through the Trainer (a resumed one from its checkpoint).
int run_job(SweepPlan& sp, size_t i) {
  SweepRow& row = sp.rows[i];
  Trainer trainer(row.config, sp.dirs[i], sp.states[i] == JobState::Resume);
  const RunResult r = trainer.run();
  if (r.exit_code != kExitOk) return r.exit_code;
  load_sweep_results(row, sp.dirs[i]);
  absl::FPrintF(stderr, "[run] '%s' finished: val loss %.4f (best %.4f) in %s\n", job_name(row), row.final_val_loss,
                row.best_val_loss, duration(row.wall_s));
  return kExitOk;
}

// The report of every job finished on disk (other processes' too).
void write_report(const Experiment& e, SweepPlan& sp, const std::string& out_dir) {
  for (size_t i = 0; i < sp.rows.size(); ++i) load_sweep_results(sp.rows[i], sp.dirs[i]);
  write_sweep_report(e, sp.rows, out_dir);
}

}  // namespace

int run_sweep(const Experiment& e, const std::string& out_dir, const RunMode& mode) {
  install_interrupt_handler();
  SweepPlan sp = plan(e, out_dir, !mode.plan && !mode.report);
  if (mode.plan) {
    print_plan(sp, mode.shard);
    return kExitOk;
  }
  if (mode.report) {
    fs::create_directories(out_dir);
    write_report(e, sp, out_dir);
    std::cerr << "[run] wrote " << out_dir << "/results.csv, report.md and plots from the finished jobs\n";
    print_ranking(sp.rows);
    return kExitOk;
  }
  JobKind kind;
  kind.noun = "job";
  kind.intro = "[run] sweep " + e.path + ": " + std::to_string(e.jobs.size()) + " variants, " +
               std::to_string(sp.rows.size()) + " jobs into " + out_dir + " | budget " + e.budget.describe() +
               (mode.shard.count > 1 ? " | shard " + mode.shard.describe() : "") + "\n";
  for (const SweepRow& r : sp.rows) kind.names.push_back(job_name(r));
  kind.dirs = sp.dirs;
  kind.reload = [&](size_t i) { return read_state(sp.rows[i], sp.dirs[i], sp.start_steps[i]); };
  kind.done_note = [&](size_t i) { return fmt(" (final val loss %.4f)", sp.rows[i].final_val_loss); };
  kind.announce = [&](size_t i) { announce(sp, i, mode.shard); };
  kind.run = [&](size_t i) { return run_job(sp, i); };
  kind.write_report = [&] { write_report(e, sp, out_dir); };
  kind.summarize = [&] { print_ranking(sp.rows); };
  return run_jobs(e, out_dir, sp.states, kind, mode.shard);
}

}  // namespace peer
