// The kind = "lifelong" part of an experiment file (experiment.h): methods, the phase budget,
// freeze-and-add options and the domain stream. Everything is checked here, before any text is
// read; whether the domains' files exist and hold enough text is checked when the run is planned.
#include <algorithm>
#include <set>

#include "absl/strings/str_join.h"

#include "core/error.h"
#include "experiments/run/corpus.h"
#include "experiments/jobs/parse.h"
#include "experiments/run/pools.h"

namespace peer {

namespace {

const std::set<std::string> kLifelongKeys = {"kind",        "description",  "methods",
                                             "tokens_per_phase", "eval_tokens", "pool_size",
                                             "freeze_query", "freeze_non_expert", "seeds"};

// The default stream: Brown genre groups, from news to fiction.
std::vector<Domain> brown_stream(const DataConfig& base) {
  const std::vector<std::pair<std::string, std::vector<std::string>>> groups = {
      {"press", {"ca", "cb", "cc"}},
      {"learned_government", {"cj", "ch"}},
      {"religion_belles_lettres", {"cd", "cg"}},
      {"fiction", {"ck", "cl", "cm", "cn", "cp", "cr"}}};
  std::vector<Domain> out;
  for (const auto& [name, genres] : groups) {
    Domain d{name, base};
    d.data.source = "brown";
    d.data.genres = genres;
    d.data.files.clear();
    out.push_back(d);
  }
  return out;
}

std::vector<std::string> string_list(const toml::node* n, const std::string& what) {
  const toml::array* a = n ? n->as_array() : nullptr;
  if (!a) throw InputError(what + ": expected a list of strings");
  std::vector<std::string> out;
  for (const toml::node& x : *a) {
    if (!x.is_string()) throw InputError(what + ": expected a list of strings, found " + literal(x));
    out.push_back(*x.value<std::string>());
  }
  return out;
}

Domain parse_domain(const toml::table& t, size_t i, const DataConfig& base, const std::string& origin) {
  std::string where = origin + ": domains[" + std::to_string(i) + "]";
  for (const auto& [k, _] : t)
    if (k != "name" && k != "genres" && k != "files")
      throw InputError(where + ": unknown key '" + std::string(k.str()) + "' (known: name, genres, files)");
  const toml::node* name = t.get("name");
  if (!name || !name->is_string()) throw InputError(where + ": needs name = \"...\"");
  Domain d{*name->value<std::string>(), base};
  where += " '" + d.name + "'";
  if (!valid_name(d.name)) throw InputError(where + ": names may hold only letters, digits, '-', '_' and '.'");
  if (t.contains("genres") == t.contains("files"))
    throw InputError(where + ": give exactly one of genres = [Brown genre codes] or files = [text files or folders]");
  if (t.contains("genres")) {
    d.data.source = "brown";
    d.data.files.clear();
    d.data.genres = string_list(t.get("genres"), where + " genres");
    const auto& known = brown_genres();
    for (const std::string& g : d.data.genres)
      if (std::find(known.begin(), known.end(), g) == known.end())
        throw InputError(where + ": unknown Brown genre '" + g + "' (ca..cr)");
  } else {
    d.data.source = "files";
    d.data.genres.clear();
    d.data.files = string_list(t.get("files"), where + " files");
  }
  if (d.data.genres.empty() && d.data.files.empty()) throw InputError(where + ": its genres/files list is empty");
  return d;
}

std::vector<Domain> parse_domains(const toml::table& root, const DataConfig& base, const std::string& origin) {
  const toml::node* n = root.get("domains");
  if (!n) return brown_stream(base);
  const toml::array* a = n->as_array();
  if (!a) throw InputError(origin + ": domains must be [[domains]] tables with name and genres or files");
  if (a->empty()) throw InputError(origin + ": the domain list is empty; a stream needs at least one [[domains]] entry");
  std::vector<Domain> out;
  std::set<std::string> names;
  for (size_t i = 0; i < a->size(); ++i) {
    const toml::table* t = (*a)[i].as_table();
    if (!t) throw InputError(origin + ": domains[" + std::to_string(i) + "] must be a table");
    out.push_back(parse_domain(*t, i, base, origin));
    if (!names.insert(out.back().name).second)
      throw InputError(origin + ": domain name '" + out.back().name + "' appears twice");
  }
  return out;
}

int64_t positive_int(const toml::table& exp, const std::string& key, int64_t fallback, bool zero_ok,
                     const std::string& origin) {
  const toml::node* n = exp.get(key);
  if (!n) {
    if (fallback < 0) throw InputError(origin + ": [experiment] needs " + key + " (tokens trained per domain)");
    return fallback;
  }
  const std::string what = origin + ": [experiment] " + key;
  if (!n->is_integer()) throw InputError(what + ": expected a whole number");
  int64_t v = *n->value<int64_t>();
  if (v < 0 || (v == 0 && !zero_ok))
    throw InputError(what + " = " + std::to_string(v) + (zero_ok ? ": must be >= 0" : ": must be > 0"));
  return v;
}

bool flag(const toml::table& exp, const std::string& key, const std::string& origin) {
  const toml::node* n = exp.get(key);
  if (!n) return false;
  if (!n->is_boolean()) throw InputError(origin + ": [experiment] " + key + ": expected true or false");
  return *n->value<bool>();
}

PoolShape parse_pool(const toml::table& exp, const Config& base, const std::string& origin) {
  const toml::node* n = exp.get("pool_size");
  if (!n) {
    auto [n1, n2] = base.peer_sides();
    return {n1, n2};
  }
  const std::string what = origin + ": [experiment] pool_size";
  if (!n->is_string() && !n->is_integer()) throw InputError(what + ": expected N or \"N1xN2\"");
  return parse_pool_size(n->is_string() ? *n->value<std::string>() : literal(*n), what);
}

// The FFN a method trains; joint (the upper bound) trains PEER unless [method.joint] says otherwise.
std::string method_ffn(const std::string& m) { return m == "dense" ? "dense" : m == "moe" ? "moe" : "peer"; }

Job parse_method(const std::string& m, const toml::table* overrides, const Experiment& e, const std::string& origin) {
  auto refuse = [&](const std::string& key) -> std::string {
    if (key == "model.ffn" && m != "joint")
      return "sets model.ffn, but method '" + m + "' is defined by its FFN (" + method_ffn(m) +
             "); only joint's can change";
    if (key == "train.steps" || key == "train.tokens" || key.rfind("data.", 0) == 0)
      return "sets " + key + ", but tokens_per_phase and the domains decide what every method reads";
    if (key == "train.seed" && !e.seeds.empty()) return "sets train.seed, but [experiment] seeds decides it";
    return "";
  };
  std::vector<std::string> sets = {"model.ffn='" + method_ffn(m) + "'"};
  if (!e.seeds.empty()) sets.push_back("train.seed=" + std::to_string(e.seeds[0]));
  return parse_overrides(m, overrides, e.base_toml, sets, refuse, origin + ": method '" + m + "'", origin + " [base]");
}

std::vector<std::string> parse_method_names(const toml::table& exp, const std::string& origin) {
  if (!exp.contains("methods")) return lifelong_methods();
  std::vector<std::string> names = string_list(exp.get("methods"), origin + ": [experiment] methods");
  if (names.empty()) throw InputError(origin + ": [experiment] methods is empty");
  std::set<std::string> seen;
  for (const std::string& m : names) {
    const auto& known = lifelong_methods();
    if (std::find(known.begin(), known.end(), m) == known.end())
      throw InputError(origin + ": [experiment] methods: unknown method '" + m + "' (known: dense, moe, peer, " +
                       "peer_freeze_add, joint)");
    if (!seen.insert(m).second) throw InputError(origin + ": [experiment] methods: '" + m + "' appears twice");
  }
  return names;
}

}  // namespace

const std::vector<std::string>& lifelong_methods() {
  static const std::vector<std::string> m = {"dense", "moe", "peer", "peer_freeze_add", "joint"};
  return m;
}

void parse_lifelong(const toml::table& root, Experiment& e, const std::string& origin) {
  for (const auto& [k, _] : root)
    if (k != "experiment" && k != "base" && k != "domains" && k != "method")
      throw InputError(origin + ": unknown top-level key '" + std::string(k.str()) +
                       "' (a lifelong experiment has [experiment], [base] or base = \"file\", [[domains]], "
                       "[method.NAME])");
  const toml::table& exp = *root["experiment"].as_table();
  for (const auto& [k, _] : exp)
    if (!kLifelongKeys.count(std::string(k.str())))
      throw InputError(origin + ": unknown [experiment] key '" + std::string(k.str()) + "' (known for lifelong: " +
                       absl::StrJoin(kLifelongKeys, ", ") + ")");
  LifelongSpec& s = e.lifelong;
  s.tokens_per_phase = positive_int(exp, "tokens_per_phase", -1, false, origin);
  s.eval_tokens = positive_int(exp, "eval_tokens", 0, true, origin);
  s.pool = parse_pool(exp, e.base, origin);
  s.freeze_query = flag(exp, "freeze_query", origin);
  s.freeze_non_expert = flag(exp, "freeze_non_expert", origin);
  s.domains = parse_domains(root, e.base.data, origin);
  // One seed: the lifelong report (loss matrices, forgetting) is per method, not yet per seed.
  e.seeds = parse_seeds(exp, origin);
  if (e.seeds.size() > 1)
    throw InputError(origin + ": [experiment] seeds: a lifelong stream runs one seed for now (seeds = [" +
                     std::to_string(e.seeds[0]) + "]); run the file once per seed, each with its own --out");

  const std::vector<std::string> names = parse_method_names(exp, origin);
  const toml::table* overrides = root["method"].as_table();
  if (root.contains("method") && !overrides) throw InputError(origin + ": method must be [method.NAME] tables");
  if (overrides)
    for (const auto& [k, v] : *overrides) {
      if (std::find(names.begin(), names.end(), std::string(k.str())) == names.end())
        throw InputError(origin + ": [method." + std::string(k.str()) + "] names no method in [experiment] methods");
      if (!v.is_table()) throw InputError(origin + ": method." + std::string(k.str()) + " must be a table of overrides");
    }
  for (const std::string& m : names) {
    Job v = parse_method(m, overrides ? (*overrides)[m].as_table() : nullptr, e, origin);
    // train.steps is one phase's length, so the warmup + cosine schedule spans a phase.
    v.config.train.tokens = s.tokens_per_phase;
    v.config.train.steps = v.config.total_steps();
    v.config.train.tokens = 0;
    try {
      validate(v.config);
    } catch (const InputError& err) {
      throw InputError(origin + ": method '" + m + "' with " + std::to_string(v.config.train.steps) +
                       " steps per phase: " + err.what());
    }
    e.jobs.push_back(std::move(v));
  }
}

}  // namespace peer
