// Command-line parsing for the `peer` subcommands, on CLI11: positional arguments, `--name value`
// (or `--name=value`) options, repeatable, and boolean flags. Flags are spelled as the config keys
// they set (`--top-k` for peer.top_k). Unknown options are InputErrors naming the nearest known one.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

namespace peer {

struct Args {
  std::vector<std::string> positional;
  std::map<std::string, std::vector<std::string>> values;
  std::set<std::string> flags;

  bool has(const std::string& name) const { return flags.count(name) || values.count(name); }
  std::string get(const std::string& name, const std::string& fallback = "") const;
  int64_t get_int(const std::string& name, int64_t fallback) const;
  double get_double(const std::string& name, double fallback) const;
  const std::vector<std::string>& all(const std::string& name) const;
};

// Options listed in `with_value` take a value; those in `flags` do not; `--help` is always a flag.
Args parse_args(int argc, char** argv, int first, const std::set<std::string>& with_value,
                const std::set<std::string>& flags = {});

}  // namespace peer
