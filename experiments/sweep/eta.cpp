#include "experiments/sweep/eta.h"

#include <algorithm>
#include <map>

#include "experiments/run/duration.h"

namespace peer {

namespace {
// FLOPs and seconds summed by key: the rate of a group is their ratio.
using Totals = std::map<std::string, std::pair<double, double>>;

void add(Totals& t, const std::string& key, const JobCost& j) {
  t[key].first += j.flops;
  t[key].second += j.seconds;
}

const std::pair<double, double>* find(const Totals& t, const std::string& key) {
  auto it = t.find(key);
  return it != t.end() && it->second.first > 0 && it->second.second > 0 ? &it->second : nullptr;
}
}  // namespace

SweepEta estimate_eta(const std::vector<JobCost>& finished, const std::vector<JobCost>& pending) {
  Totals by_variant, by_kind;
  for (const JobCost& j : finished) add(by_variant, j.variant, j), add(by_kind, j.kind, j);
  SweepEta eta;
  for (const JobCost& j : pending) {
    const auto* r = find(by_variant, j.variant);
    if (!r) r = find(by_kind, j.kind);
    if (r) {
      eta.seconds += j.flops * r->second / r->first;
      continue;
    }
    ++eta.untimed;
    if (std::find(eta.untimed_kinds.begin(), eta.untimed_kinds.end(), j.kind) == eta.untimed_kinds.end())
      eta.untimed_kinds.push_back(j.kind);
  }
  for (const JobCost& j : finished) eta.measured = eta.measured || (j.flops > 0 && j.seconds > 0);
  return eta;
}

std::string SweepEta::describe() const {
  if (untimed > 0 && !measured) return "known after the first job";
  std::string s = "~" + duration(seconds);
  if (untimed == 0) return s;
  std::string kinds;
  for (const std::string& k : untimed_kinds) kinds += (kinds.empty() ? "" : ", ") + k;
  return s + " + " + std::to_string(untimed) + (untimed == 1 ? " job" : " jobs") + " not timed yet (" + kinds + ")";
}

}  // namespace peer
