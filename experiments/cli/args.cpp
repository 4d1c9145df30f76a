#include "experiments/cli/args.h"

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

Args parse_args(int argc, char** argv, int first, const std::set<std::string>& with_value,
                const std::set<std::string>& flags) {
  Args a;
  for (int i = first; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) != 0 || s == "--") {
      a.positional.push_back(s);
      continue;
    }
    std::string name = s.substr(2), value;
    size_t eq = name.find('=');
    bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (name == "help" || flags.count(name)) {
      a.flags.insert(name);
    } else if (with_value.count(name)) {
      if (!inline_value) {
        if (i + 1 >= argc) throw InputError("--" + name + " needs a value");
        value = argv[++i];
      }
      a.values[name].push_back(value);
    } else {
      std::vector<std::string> known{"--help"};
      for (const auto& set : {with_value, flags})
        for (const std::string& n : set) known.push_back("--" + n);
      const std::string hint = did_you_mean("--" + name, known);
      throw InputError("unknown option --" + name + (hint.empty() ? " (see --help)" : hint));
    }
  }
  return a;
}

}  // namespace peer
