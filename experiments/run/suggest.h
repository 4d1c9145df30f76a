// "Did you mean": the nearest known name to a mistyped one, for unknown config keys, commands and
// flags.
#pragma once

#include <string>
#include <vector>

namespace peer {

// " (did you mean 'NAME'?)" for the candidate nearest to `name` in edit distance (Levenshtein:
// insertions, deletions, substitutions), or "" when none is within a third of the longer name
// (at least 2 edits), so that an unrelated name suggests nothing.
std::string did_you_mean(const std::string& name, const std::vector<std::string>& candidates);

}  // namespace peer
