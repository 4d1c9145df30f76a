// The outputs of a sweep (experiments/README.md): OUT/results.csv (one row per finished
// (variant, seed), with where and when it ran), OUT/results_summary.csv (per variant: mean and
// standard deviation over seeds, the verdict), OUT/accounting.csv (FLOPs per token by component),
// OUT/report.md (final losses at equal training FLOPs and at equal tokens in separate tables,
// best or tied by the seeds' spread (summary.h), the FLOP split, the accounting rules, the
// resolved base config) and the gnuplot plots (sweep/plots.h).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "experiments/run/accounting.h"
#include "experiments/jobs/experiment.h"

namespace peer {

// One job of a sweep: a variant trained with one seed.
struct SweepRow {
  std::string name;               // the variant
  int64_t seed = 0;               // its train.seed
  std::vector<std::string> sets;  // the variant's overrides
  Config config;                  // resolved, budget and seed applied
  Accounting acc;
  bool finished = false;  // summary.json exists; the fields below are read from it
  int64_t steps = 0, tokens = 0;
  double final_val_loss = 0, best_val_loss = 0, tokens_per_s = 0, wall_s = 0, peak_rss_mb = 0;
  std::string device, commit, date;
  int64_t threads = 0;
  struct Point {
    int64_t step;
    double loss, elapsed_s;  // elapsed_s is NaN for rows without it
  };
  std::vector<Point> val;  // the "split":"val" rows of metrics.jsonl

  double training_flops() const { return acc.train_flops() * double(tokens); }
  // Validation evaluations it makes (points on its loss curves): every train.eval_every steps
  // and at the last step.
  int64_t evaluations() const {
    const int64_t n = config.total_steps(), every = config.train.eval_every;
    return n / every + (n % every != 0);
  }
};

// Fewer evaluations than this make a loss curve too coarse for a figure: --plan and report.md
// name the variants below it.
constexpr int64_t kMinCurvePoints = 10;

// Reads DIR/summary.json (when present) and the val rows of DIR/metrics.jsonl into `row`.
void load_sweep_results(SweepRow& row, const std::string& dir);

// Writes results.csv, results_summary.csv, accounting.csv, report.md and the plots into out_dir.
void write_sweep_report(const Experiment& e, const std::vector<SweepRow>& rows, const std::string& out_dir);

}  // namespace peer
