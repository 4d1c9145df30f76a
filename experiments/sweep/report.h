// The outputs of a sweep (experiments/README.md): OUT/results.csv (one row per finished variant, with
// where and when it ran), OUT/report.md (the table sorted by final val loss, the best marked, the
// accounting rules, the resolved base config) and the gnuplot plots (sweep/plots.h).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "experiments/run/accounting.h"
#include "experiments/jobs/experiment.h"

namespace peer {

struct SweepRow {
  std::string name;
  std::vector<std::string> sets;  // the variant's overrides
  Config config;                  // resolved, budget applied
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
};

// Reads DIR/summary.json (when present) and the val rows of DIR/metrics.jsonl into `row`.
void load_sweep_results(SweepRow& row, const std::string& dir);

// Writes results.csv, report.md and the plots into out_dir.
void write_sweep_report(const Experiment& e, const std::vector<SweepRow>& rows, const std::string& out_dir);

}  // namespace peer
