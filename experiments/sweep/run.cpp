#include "experiments/sweep/run.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <map>
#include <sstream>

#include "absl/strings/str_join.h"
#include "core/cuda/device.h"
#include "core/error.h"
#include "core/io/atomic_file.h"
#include "experiments/run/accounting.h"
#include "experiments/run/data.h"
#include "experiments/sweep/report.h"
#include "experiments/run/trainer.h"

namespace fs = std::filesystem;

namespace peer {

namespace {

enum class State { New, Resume, Done };

struct Planned {
  SweepRow row;  // name, overrides, resolved config, accounting (and results once done)
  std::string dir;
  State state = State::New;
  int64_t start_step = 0;  // of the checkpoint a resumed variant continues from
};

std::string data_key(const DataConfig& d) {
  std::string k = d.source + "|" + d.dir + "|";
  for (const auto& f : d.files) k += f + ",";
  k += "|";
  for (const auto& g : d.genres) k += g + ",";
  return k;
}

std::vector<Planned> plan(const Experiment& e, const std::string& out, bool plan_only) {
  std::map<std::string, int64_t> vocab;  // by data config: loading a corpus once is enough
  std::vector<Planned> planned;
  for (const Variant& v : e.variants) {
    Planned p;
    p.row.name = v.name;
    p.row.sets = v.sets;
    p.row.config = v.config;
    const std::string key = data_key(v.config.data);
    if (!vocab.count(key)) vocab[key] = load_run_data(v.config).tokenizer.vocab_size();
    apply_budget(p.row.config, e.budget, vocab[key], e.path + ": variant '" + v.name + "'");
    p.row.acc = account(p.row.config, vocab[key]);
    if (p.row.config.train.device == "cuda" && !plan_only)
      cuda::refuse("[sweep] variant '" + v.name + "': train.device = \"cuda\"", "the training step");
    p.dir = (fs::path(out) / "variants" / v.name).string();
    const bool done = fs::is_regular_file(fs::path(p.dir) / "summary.json");
    if (done || fs::is_regular_file(checkpoint_path(p.dir))) {
      require_same_config(p.dir, p.row.config, "variant '" + p.row.name + "'");
      if (done) {
        p.state = State::Done;
        load_sweep_results(p.row, p.dir);
      } else {
        p.start_step = read_checkpoint_info(checkpoint_path(p.dir)).step;
        // A checkpoint of the last step without a summary (killed in between) cannot resume.
        p.state = p.start_step < p.row.config.total_steps() ? State::Resume : State::New;
      }
    }
    planned.push_back(std::move(p));
  }
  return planned;
}

std::string minutes(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%ldm%02lds", long(s) / 60, long(s) % 60);
  return buf;
}

double remaining_flops(const Planned& p) {
  const Config& c = p.row.config;
  return p.row.acc.train_flops() * double(c.train.batch_size * c.model.block_size) *
         double(c.total_steps() - (p.state == State::Resume ? p.start_step : 0));
}

// Sweep ETA from the FLOP rates (training FLOPs per second of wall time) of finished variants,
// per FFN kind where one has finished (dense, MoE and PEER differ several-fold on a CPU).
std::string sweep_eta(const std::vector<Planned>& all, size_t from) {
  std::map<std::string, std::pair<double, double>> by_ffn;  // ffn -> (FLOPs, seconds)
  std::pair<double, double> total{0, 0};
  for (const Planned& p : all)
    if (p.row.finished && p.row.wall_s > 0) {
      auto& r = by_ffn[p.row.config.model.ffn];
      r.first += p.row.training_flops(), r.second += p.row.wall_s;
      total.first += p.row.training_flops(), total.second += p.row.wall_s;
    }
  if (total.second <= 0) return "known after the first variant";
  double eta = 0;
  for (size_t i = from; i < all.size(); ++i) {
    if (all[i].state == State::Done) continue;
    auto it = by_ffn.find(all[i].row.config.model.ffn);
    const auto& r = it != by_ffn.end() ? it->second : total;
    eta += remaining_flops(all[i]) * r.second / r.first;
  }
  return "~" + minutes(eta);
}

void announce(const Planned& p, size_t i, size_t n, const std::string& eta) {
  const Config& c = p.row.config;
  std::ostringstream s;
  s << "[run] variant " << i + 1 << "/" << n << " '" << p.row.name << "' (" << c.model.ffn;
  if (p.row.acc.granularity) s << ", G " << *p.row.acc.granularity;
  s << "): " << c.total_steps() << " steps, " << p.row.acc.total_params << " params, " << p.row.acc.active_params
    << " active/token, " << p.row.acc.train_flops() << " train FLOPs/token";
  if (p.state == State::Resume) s << "; resuming from its checkpoint at step " << p.start_step;
  s << " | sweep ETA " << eta << "\n";
  std::cerr << s.str();
}

void print_plan(const std::vector<Planned>& planned) {
  std::printf("%-16s %-6s %6s %7s %10s %12s %12s %14s %14s %12s  %s\n", "variant", "ffn", "G", "steps", "tokens",
              "params", "active/tok", "FFN active/tok", "fwd FLOPs/tok", "train FLOPs", "state");
  for (const Planned& p : planned) {
    const SweepRow& r = p.row;
    const int64_t tokens = r.config.total_steps() * r.config.train.batch_size * r.config.model.block_size;
    std::printf("%-16s %-6s %6s %7ld %10ld %12ld %12ld %14ld %14.0f %12.4g  %s\n", r.name.c_str(),
                r.config.model.ffn.c_str(), r.acc.granularity ? std::to_string(int64_t(*r.acc.granularity)).c_str() : "-",
                long(r.config.total_steps()), long(tokens), long(r.acc.total_params), long(r.acc.active_params),
                long(r.acc.ffn_active_params), r.acc.forward_flops(), r.acc.train_flops() * double(tokens),
                p.state == State::Done ? "done" : p.state == State::Resume ? "resume" : "new");
  }
}

// The finished variants, best first, on stdout (report.md has the full table).
void print_ranking(const std::vector<Planned>& planned) {
  std::vector<const SweepRow*> done;
  for (const Planned& p : planned)
    if (p.row.finished) done.push_back(&p.row);
  std::stable_sort(done.begin(), done.end(),
                   [](const SweepRow* a, const SweepRow* b) { return a->final_val_loss < b->final_val_loss; });
  std::printf("%-16s %-6s %8s %14s %14s %12s %10s\n", "variant", "ffn", "G", "FFN active/tok", "train FLOPs",
              "final val", "wall");
  for (const SweepRow* r : done)
    std::printf("%-16s %-6s %8s %14ld %14.4g %12.4f %10s\n", r->name.c_str(), r->config.model.ffn.c_str(),
                r->acc.granularity ? std::to_string(int64_t(*r->acc.granularity)).c_str() : "-",
                long(r->acc.ffn_active_params), r->training_flops(), r->final_val_loss, minutes(r->wall_s).c_str());
}

std::vector<SweepRow> rows_of(const std::vector<Planned>& planned) {
  std::vector<SweepRow> rows;
  for (const Planned& p : planned) rows.push_back(p.row);
  return rows;
}

}  // namespace

int run_sweep(const Experiment& e, const std::string& out_dir, bool plan_only) {
  install_interrupt_handler();
  std::vector<Planned> planned = plan(e, out_dir, plan_only);
  if (plan_only) {
    print_plan(planned);
    return kExitOk;
  }
  fs::create_directories(fs::path(out_dir) / "variants");
  write_file_atomic((fs::path(out_dir) / "experiment.toml").string(), read_file(e.path));
  const size_t n = planned.size();
  std::cerr << "[run] sweep " << e.path << ": " << n << " variants into " << out_dir << " | budget "
            << e.budget.describe() << "\n";
  std::vector<std::string> failed;
  for (size_t i = 0; i < n; ++i) {
    Planned& p = planned[i];
    if (p.state == State::Done) {
      std::fprintf(stderr, "[run] variant %zu/%zu '%s': done (final val loss %.4f), skipped\n", i + 1, n,
                   p.row.name.c_str(), p.row.final_val_loss);
      continue;
    }
    if (interrupt_requested()) break;
    announce(p, i, n, sweep_eta(planned, i));
    if (p.state == State::New && fs::exists(p.dir)) fs::remove_all(p.dir);  // killed before its first checkpoint
    Trainer trainer(p.row.config, p.dir, p.state == State::Resume);
    RunResult r = trainer.run();
    if (r.exit_code == kExitInterrupted) break;
    if (r.exit_code != kExitOk) {
      failed.push_back(p.row.name);
      continue;
    }
    p.state = State::Done;
    load_sweep_results(p.row, p.dir);
    std::fprintf(stderr, "[run] '%s' finished: val loss %.4f (best %.4f) in %s\n", p.row.name.c_str(),
                 p.row.final_val_loss, p.row.best_val_loss, minutes(p.row.wall_s).c_str());
    write_sweep_report(e, rows_of(planned), out_dir);  // partial results are readable while it runs
  }
  write_sweep_report(e, rows_of(planned), out_dir);
  const bool all_done = std::all_of(planned.begin(), planned.end(), [](const Planned& p) { return p.state == State::Done; });
  if (interrupt_requested() && !all_done) {
    std::cerr << "[run] interrupted; finished variants and the running one's checkpoint are kept. Run the same "
                 "command again to continue.\n";
    return kExitInterrupted;
  }
  print_ranking(planned);
  std::cerr << "[run] wrote " << out_dir << "/results.csv, report.md and plots\n";
  if (!failed.empty()) {
    std::cerr << "[run] failed variants: " << absl::StrJoin(failed, ", ") << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace peer
