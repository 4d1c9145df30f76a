#include "experiments/run/suggest.h"

#include <algorithm>

namespace peer {

namespace {
// One row of the dynamic programme at a time: row[j] = distance(a[0..i), b[0..j)).
size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}
}  // namespace

std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates) {
  const std::string* best = nullptr;
  size_t best_d = 0;
  for (const std::string& c : candidates) {
    const size_t d = edit_distance(name, c);
    if (!best || d < best_d) best = &c, best_d = d;
  }
  if (!best || best_d > std::max<size_t>(2, std::max(name.size(), best->size()) / 3)) return "";
  return " (did you mean '" + *best + "'?)";
}

}  // namespace peer
