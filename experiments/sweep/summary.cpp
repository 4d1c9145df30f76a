#include "experiments/sweep/summary.h"

#include <algorithm>
#include <cmath>

namespace peer {

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? NAN : s / double(v.size());
}

double sample_std(const std::vector<double>& v) {
  if (v.size() < 2) return NAN;
  const double m = mean_of(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / double(v.size() - 1));
}

namespace {

// The spread two variants' means must differ by: infinite when either has one seed.
double spread(const VariantSummary& a, const VariantSummary& b) {
  if (std::isnan(a.final_std) || std::isnan(b.final_std)) return INFINITY;
  return a.final_std + b.final_std;
}

VariantSummary summarize(const std::string& name, const std::vector<const SweepRow*>& runs) {
  VariantSummary v;
  v.name = name;
  v.runs = runs;
  std::vector<double> final, best, tokens, flops, wall, rate;
  for (const SweepRow* r : runs) {
    final.push_back(r->final_val_loss);
    best.push_back(r->best_val_loss);
    tokens.push_back(double(r->tokens));
    flops.push_back(r->training_flops());
    wall.push_back(r->wall_s);
    rate.push_back(r->tokens_per_s);
  }
  v.final_mean = mean_of(final), v.final_std = sample_std(final);
  v.best_mean = mean_of(best), v.best_std = sample_std(best);
  v.tokens = mean_of(tokens), v.training_flops = mean_of(flops), v.wall_s = mean_of(wall);
  v.tokens_per_s = mean_of(rate);
  return v;
}

}  // namespace

std::vector<VariantSummary> summarize_variants(const std::vector<SweepRow>& rows) {
  std::vector<std::string> names;  // file order
  for (const SweepRow& r : rows)
    if (std::find(names.begin(), names.end(), r.name) == names.end()) names.push_back(r.name);
  std::vector<VariantSummary> out;
  for (const std::string& name : names) {
    std::vector<const SweepRow*> runs;
    for (const SweepRow& r : rows)
      if (r.name == name && r.finished) runs.push_back(&r);
    if (!runs.empty()) out.push_back(summarize(name, runs));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const VariantSummary& a, const VariantSummary& b) { return a.final_mean < b.final_mean; });
  if (out.empty()) return out;
  bool tied = false;
  for (size_t i = 1; i < out.size(); ++i)
    if (out[i].final_mean - out[0].final_mean <= spread(out[0], out[i])) {
      out[i].verdict = "tied";
      tied = true;
    }
  out[0].verdict = tied ? "tied" : out.size() > 1 ? "best" : "";
  return out;
}

}  // namespace peer
