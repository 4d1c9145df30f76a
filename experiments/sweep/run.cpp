#include "experiments/sweep/run.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>

#include "experiments/jobs/queue.h"
#include "experiments/jobs/report_format.h"
#include "experiments/run/accounting.h"
#include "experiments/run/device.h"
#include "experiments/run/data.h"
#include "experiments/run/duration.h"
#include "experiments/run/interrupt.h"
#include "experiments/run/run_folder.h"
#include "experiments/run/trainer.h"
#include "experiments/sweep/report.h"

namespace fs = std::filesystem;

namespace peer {

namespace {

// A sweep's jobs as planned: variant i is e.jobs[i], rows[i] its resolved config and accounting
// (and its results once done).
struct SweepPlan {
  std::vector<SweepRow> rows;
  std::vector<JobState> states;
  std::vector<int64_t> start_steps;  // of the checkpoint a resumed variant continues from
};

std::string data_key(const DataConfig& d) {
  std::string k = d.source + "|" + d.dir + "|";
  for (const auto& f : d.files) k += f + ",";
  k += "|";
  for (const auto& g : d.genres) k += g + ",";
  return k;
}

SweepPlan plan(const Experiment& e, const std::string& out, bool plan_only) {
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
    if (!plan_only) run_device(row.config, "[sweep] variant '" + v.name + "':");
    const std::string dir = job_dir(out, "variant", v.name);
    JobState state = JobState::New;
    int64_t start_step = 0;
    const bool done = fs::is_regular_file(fs::path(dir) / "summary.json");
    if (done || fs::is_regular_file(checkpoint_path(dir))) {
      require_same_config(dir, row.config, "variant '" + row.name + "'");
      if (done) {
        state = JobState::Done;
        load_sweep_results(row, dir);
      } else {
        start_step = read_checkpoint_info(checkpoint_path(dir)).step;
        // A checkpoint of the last step without a summary (killed in between) cannot resume.
        state = start_step < row.config.total_steps() ? JobState::Resume : JobState::New;
      }
    }
    sp.rows.push_back(std::move(row));
    sp.states.push_back(state);
    sp.start_steps.push_back(start_step);
  }
  return sp;
}

double remaining_flops(const SweepPlan& sp, size_t i) {
  const SweepRow& row = sp.rows[i];
  const Config& c = row.config;
  return row.acc.train_flops() * double(c.train.batch_size * c.model.block_size) *
         double(c.total_steps() - (sp.states[i] == JobState::Resume ? sp.start_steps[i] : 0));
}

// Sweep ETA from the FLOP rates (training FLOPs per second of wall time) of finished variants,
// per FFN kind where one has finished (dense, MoE and PEER differ several-fold on a CPU).
std::string sweep_eta(const SweepPlan& sp, size_t from) {
  std::map<std::string, std::pair<double, double>> by_ffn;  // ffn -> (FLOPs, seconds)
  std::pair<double, double> total{0, 0};
  for (const SweepRow& row : sp.rows)
    if (row.finished && row.wall_s > 0) {
      auto& r = by_ffn[row.config.model.ffn];
      r.first += row.training_flops(), r.second += row.wall_s;
      total.first += row.training_flops(), total.second += row.wall_s;
    }
  if (total.second <= 0) return "known after the first variant";
  double eta = 0;
  for (size_t i = from; i < sp.rows.size(); ++i) {
    if (sp.states[i] == JobState::Done) continue;
    auto it = by_ffn.find(sp.rows[i].config.model.ffn);
    const auto& r = it != by_ffn.end() ? it->second : total;
    eta += remaining_flops(sp, i) * r.second / r.first;
  }
  return "~" + duration(eta);
}

void announce(const SweepPlan& sp, size_t i) {
  const SweepRow& row = sp.rows[i];
  const Config& c = row.config;
  std::ostringstream s;
  s << "[run] variant " << i + 1 << "/" << sp.rows.size() << " '" << row.name << "' (" << c.model.ffn;
  if (row.acc.granularity) s << ", G " << *row.acc.granularity;
  s << "): " << c.total_steps() << " steps, " << row.acc.total_params << " params, " << row.acc.active_params
    << " active/token, " << row.acc.train_flops() << " train FLOPs/token";
  if (sp.states[i] == JobState::Resume) s << "; resuming from its checkpoint at step " << sp.start_steps[i];
  s << " | sweep ETA " << sweep_eta(sp, i) << "\n";
  std::cerr << s.str();
}

void print_plan(const SweepPlan& sp) {
  std::printf("%-16s %-6s %6s %7s %10s %12s %12s %14s %14s %12s  %s\n", "variant", "ffn", "G", "steps", "tokens",
              "params", "active/tok", "FFN active/tok", "fwd FLOPs/tok", "train FLOPs", "state");
  for (size_t i = 0; i < sp.rows.size(); ++i) {
    const SweepRow& r = sp.rows[i];
    const int64_t tokens = r.config.total_steps() * r.config.train.batch_size * r.config.model.block_size;
    std::printf("%-16s %-6s %6s %7ld %10ld %12ld %12ld %14ld %14.0f %12.4g  %s\n", r.name.c_str(),
                r.config.model.ffn.c_str(), r.acc.granularity ? std::to_string(int64_t(*r.acc.granularity)).c_str() : "-",
                long(r.config.total_steps()), long(tokens), long(r.acc.total_params), long(r.acc.active_params),
                long(r.acc.ffn_active_params), r.acc.forward_flops(), r.acc.train_flops() * double(tokens),
                state_name(sp.states[i]));
  }
}

// The finished variants, best first, on stdout (report.md has the full table).
void print_ranking(const std::vector<SweepRow>& rows) {
  std::vector<const SweepRow*> done;
  for (const SweepRow& r : rows)
    if (r.finished) done.push_back(&r);
  std::stable_sort(done.begin(), done.end(),
                   [](const SweepRow* a, const SweepRow* b) { return a->final_val_loss < b->final_val_loss; });
  std::printf("%-16s %-6s %8s %14s %14s %12s %10s\n", "variant", "ffn", "G", "FFN active/tok", "train FLOPs",
              "final val", "wall");
  for (const SweepRow* r : done)
    std::printf("%-16s %-6s %8s %14ld %14.4g %12.4f %10s\n", r->name.c_str(), r->config.model.ffn.c_str(),
                r->acc.granularity ? std::to_string(int64_t(*r->acc.granularity)).c_str() : "-",
                long(r->acc.ffn_active_params), r->training_flops(), r->final_val_loss, duration(r->wall_s).c_str());
}

// Trains variant i through the Trainer (a resumed one from its checkpoint).
int run_variant(SweepPlan& sp, size_t i, const std::string& dir) {
  SweepRow& row = sp.rows[i];
  Trainer trainer(row.config, dir, sp.states[i] == JobState::Resume);
  const RunResult r = trainer.run();
  if (r.exit_code != kExitOk) return r.exit_code;
  load_sweep_results(row, dir);
  std::fprintf(stderr, "[run] '%s' finished: val loss %.4f (best %.4f) in %s\n", row.name.c_str(),
               row.final_val_loss, row.best_val_loss, duration(row.wall_s).c_str());
  return kExitOk;
}

}  // namespace

int run_sweep(const Experiment& e, const std::string& out_dir, bool plan_only) {
  install_interrupt_handler();
  SweepPlan sp = plan(e, out_dir, plan_only);
  if (plan_only) {
    print_plan(sp);
    return kExitOk;
  }
  JobKind kind;
  kind.noun = "variant";
  kind.intro = "[run] sweep " + e.path + ": " + std::to_string(e.jobs.size()) + " variants into " + out_dir +
               " | budget " + e.budget.describe() + "\n";
  kind.done_note = [&](size_t i) { return fmt(" (final val loss %.4f)", sp.rows[i].final_val_loss); };
  kind.announce = [&](size_t i) { announce(sp, i); };
  kind.run = [&](size_t i) { return run_variant(sp, i, job_dir(out_dir, kind.noun, e.jobs[i].name)); };
  kind.write_report = [&] { write_sweep_report(e, sp.rows, out_dir); };
  kind.summarize = [&] { print_ranking(sp.rows); };
  return run_jobs(e, out_dir, sp.states, kind);
}

}  // namespace peer
