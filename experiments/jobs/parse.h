// Pieces of experiment-file parsing shared by sweeps (experiment.cpp) and lifelong streams
// (lifelong/config.cpp). Internal to experiments/.
#pragma once

#include <functional>
#include <string>
#include <toml++/toml.h>
#include <vector>

#include "experiments/jobs/experiment.h"

namespace peer {

// A node as the TOML literal parse_config's overrides take ("32", "'topk'", "[ 'a' ]").
std::string literal(const toml::node& n);
// Names of variants, methods and domains (also folder names): [A-Za-z0-9._-]+, not "." or "..".
bool valid_name(const std::string& s);

// base_toml + `sets` + the dotted overrides of table t (may be null), validated and resolved.
// refuse(key) returns why a key may not be overridden here, or "". Messages start with `where`.
Job parse_overrides(const std::string& name, const toml::table* t, const std::string& base_toml,
                        std::vector<std::string> sets, const std::function<std::string(const std::string&)>& refuse,
                        const std::string& where, const std::string& base_origin);

// [experiment] seeds: a non-empty list of distinct whole numbers >= 0; empty when absent.
std::vector<int64_t> parse_seeds(const toml::table& exp, const std::string& origin);

// Fills e.lifelong and e.jobs (one per method) from a kind = "lifelong" file.
void parse_lifelong(const toml::table& root, Experiment& e, const std::string& origin);

}  // namespace peer
