// How evenly a layer's retrievals spread over its rows (experts, memory rows), from read counts
// gathered in eval forwards: the fraction of rows read at least once, and KL(p || uniform) =
// sum_i p_i log(p_i N) of the read shares p_i (0 when every row is read equally often).
#pragma once

#include <cmath>
#include <cstdint>
#include <vector>

namespace peer {

struct UsageSummary {
  double used_frac = 0.0;
  double kl_uniform = 0.0;
};

// false when nothing was counted (no eval forward since the counts were reset).
inline bool summarise_usage(const std::vector<int64_t>& counts, UsageSummary& out) {
  double total = 0.0;
  for (int64_t c : counts) total += double(c);
  if (total == 0.0) return false;
  const double N = double(counts.size());
  double used = 0.0, kl = 0.0;
  for (int64_t c : counts) {
    if (c == 0) continue;
    const double p = double(c) / total;
    used += 1.0;
    kl += p * std::log(p * N);
  }
  out = {used / N, kl};
  return true;
}

}  // namespace peer
