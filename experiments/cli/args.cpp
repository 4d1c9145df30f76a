#include "experiments/cli/args.h"

#include <algorithm>

#include <CLI/CLI.hpp>

#include "core/error.h"
#include "experiments/run/suggest.h"

namespace peer {

std::string Args::get(const std::string& name, const std::string& fallback) const {
  auto it = values.find(name);
  return it == values.end() ? fallback : it->second.back();
}

int64_t Args::get_int(const std::string& name, int64_t fallback) const {
  if (!values.count(name)) return fallback;
  std::string v = get(name);
  try {
    size_t used = 0;
    int64_t x = std::stoll(v, &used);
    if (used == v.size()) return x;
  } catch (const std::exception&) {
  }
  throw InputError("--" + name + ": expected an integer, got '" + v + "'");
}

double Args::get_double(const std::string& name, double fallback) const {
  if (!values.count(name)) return fallback;
  std::string v = get(name);
  try {
    size_t used = 0;
    double x = std::stod(v, &used);
    if (used == v.size()) return x;
  } catch (const std::exception&) {
  }
  throw InputError("--" + name + ": expected a number, got '" + v + "'");
}

const std::vector<std::string>& Args::all(const std::string& name) const {
  static const std::vector<std::string> none;
  auto it = values.find(name);
  return it == values.end() ? none : it->second;
}

namespace {
// The first argument CLI11 could not place: an option no command declares. Named with the
// nearest known option, in one line.
[[noreturn]] void unknown_option(const std::vector<std::string>& remaining, const std::vector<std::string>& known) {
  std::string name = remaining.empty() ? "?" : remaining.front();
  for (const std::string& r : remaining)
    if (r.rfind("-", 0) == 0) {
      name = r.substr(0, r.find('='));
      break;
    }
  const std::string hint = did_you_mean(name, known);
  throw InputError("unknown option " + name + (hint.empty() ? " (see --help)" : hint));
}
}  // namespace

Args parse_args(int argc, char** argv, int first, const std::set<std::string>& with_value,
                const std::set<std::string>& flags) {
  Args a;
  CLI::App app;
  app.set_help_flag();  // --help is a flag like the others: each command prints its own text
  std::vector<std::string> known;
  for (const std::string& name : with_value) {
    // One value per occurrence (`--set a=1 CONFIG.toml` leaves CONFIG.toml positional), all kept.
    app.add_option("--" + name, a.values[name])->allow_extra_args(false);
    known.push_back("--" + name);
  }
  std::map<std::string, int64_t> seen;
  std::set<std::string> all_flags = flags;
  all_flags.insert("help");
  for (const std::string& name : all_flags) {
    app.add_flag("--" + name, seen[name]);
    known.push_back("--" + name);
  }
  app.add_option("positional", a.positional);
  std::vector<std::string> args(argv + first, argv + argc);
  std::reverse(args.begin(), args.end());  // CLI11 takes the arguments last first
  try {
    app.parse(args);
  } catch (const CLI::ExtrasError&) {
    unknown_option(app.remaining(), known);
  } catch (const CLI::ParseError& e) {
    throw InputError(e.what());
  }
  std::erase_if(a.values, [](const auto& kv) { return kv.second.empty(); });
  for (const auto& [name, count] : seen)
    if (count > 0) a.flags.insert(name);
  return a;
}

}  // namespace peer
