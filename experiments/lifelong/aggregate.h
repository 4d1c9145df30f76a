// A lifelong stream's finished records grouped by method (one record per seed) with the mean and
// the sample standard deviation of every metric, for the report (report.h) and its conclusion.
#pragma once

#include <string>
#include <vector>

#include "experiments/jobs/experiment.h"
#include "experiments/lifelong/record.h"

namespace peer {

struct Spread {
  double mean = 0.0, std = 0.0;  // std: sample (n - 1); 0 for one value; NaN when any value is NaN
  int n = 0;
  std::string text(const char* f = "%.4f") const;  // "0.1234 ± 0.0100", or "-" without values
};
Spread spread(const std::vector<double>& v);

struct MethodResults {
  const MethodSpec* spec = nullptr;
  std::string ffn;
  std::vector<const MethodRecord*> seeds;  // finished records, in seed order
  std::vector<StreamMetrics> metrics;      // one per seed
  Spread final_loss, forgetting, backward, forward, params, trainable, tokens_per_s, train_s;
  std::vector<std::vector<double>> loss;   // mean R over seeds
  std::vector<std::vector<double>> share;  // mean pool share after the last phase: [domain][pool]
};

// The methods of e with at least one finished record, in the experiment's method order.
std::vector<MethodResults> aggregate(const Experiment& e, const std::vector<MethodRecord>& done);
const MethodResults* find_method(const std::vector<MethodResults>& all, const std::string& name);

}  // namespace peer
