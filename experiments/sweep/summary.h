// A sweep's results per variant: mean and sample standard deviation over its finished seeds,
// and which variant is best. A variant is "best" only where its mean final validation loss beats
// every other's by more than the two variants' spread (the sum of their standard deviations:
// their +-1 std bars do not overlap); the leader and every variant within that spread of it are
// "tied". A variant with one finished seed has no spread, so it is never called best.
#pragma once

#include <string>
#include <vector>

#include "experiments/sweep/report.h"

namespace peer {

double mean_of(const std::vector<double>& v);
double sample_std(const std::vector<double>& v);  // n - 1 in the denominator; NaN below 2 values

struct VariantSummary {
  std::string name;
  std::vector<const SweepRow*> runs;  // its finished seeds, in seed order
  double final_mean = 0, final_std = 0, best_mean = 0, best_std = 0;
  double tokens = 0, training_flops = 0, wall_s = 0, tokens_per_s = 0;  // means over the seeds
  std::string verdict;  // "best", "tied" or ""
  const SweepRow& first() const { return *runs.front(); }  // config and accounting (shared by the seeds)
};

// The variants with at least one finished seed, lowest mean final validation loss first, with
// verdicts.
std::vector<VariantSummary> summarize_variants(const std::vector<SweepRow>& rows);

}  // namespace peer
