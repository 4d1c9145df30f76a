// The kind = "lifelong" part of an experiment file (experiment.h): methods, the phase budget,
// freeze-and-add options and the domain stream. Everything is checked here, before any text is
// read; whether the domains' files exist and hold enough text is checked when the run is planned.
#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/str_join.h"

#include "core/error.h"
#include "experiments/run/corpus.h"
#include "experiments/jobs/parse.h"
#include "experiments/lifelong/methods.h"
#include "experiments/run/pools.h"

namespace peer {

namespace {

const std::set<std::string> kLifelongKeys = {"kind",        "description",    "methods",       "tokens_per_phase",
                                             "eval_tokens", "pool_size",      "seeds",         "rewarm",
                                             "replay_fraction", "replay_tokens"};

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

Domain parse_domain(const toml::table& t, std::string where, const DataConfig& base) {
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
    out.push_back(parse_domain(*t, origin + ": domains[" + std::to_string(i) + "]", base));
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

bool flag(const toml::table& exp, const std::string& key, bool fallback, const std::string& origin) {
  const toml::node* n = exp.get(key);
  if (!n) return fallback;
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
  const PoolShape p = parse_pool_size(n->is_string() ? *n->value<std::string>() : literal(*n), what);
  if (std::min(p.n1, p.n2) < base.peer.top_k)
    throw InputError(what + " " + std::to_string(p.n1) + "x" + std::to_string(p.n2) + ": each side must be >= peer.top_k = " +
                     std::to_string(base.peer.top_k) + " (a pool answers a query alone under oracle routing)");
  return p;
}

// Experts in every pool freeze-and-add has after the last domain: the base pool plus one per
// new domain (every domain after the first, and the first too after a pretrain phase).
int64_t final_experts(const Experiment& e) {
  const LifelongSpec& s = e.lifelong;
  const int64_t added = int64_t(s.domains.size()) - 1 + (s.pretrain_tokens > 0 ? 1 : 0);
  return e.base.peer_sides().first * e.base.peer_sides().second + added * s.pool.size();
}

// peer_big's single pool: final_experts(e) as n1 x n2, with the base pool's n1 when it divides the
// total, else the most square split.
std::vector<std::string> big_pool_sets(const Experiment& e, const std::string& origin) {
  const int64_t total = final_experts(e);
  int64_t n1 = e.base.peer_sides().first;
  if (total % n1 != 0)
    for (n1 = int64_t(std::sqrt(double(total))); total % n1 != 0;) --n1;
  if (n1 < e.base.peer.top_k)
    throw InputError(origin + ": method 'peer_big': " + std::to_string(total) + " experts (as many as freeze-and-add "
                     "ends with) split at best into " + std::to_string(n1) + " x " + std::to_string(total / n1) +
                     ", a side shorter than peer.top_k = " + std::to_string(e.base.peer.top_k) + "; choose another pool_size");
  return {"peer.num_experts=" + std::to_string(total), "peer.n1=" + std::to_string(n1),
          "peer.n2=" + std::to_string(total / n1)};
}

Job parse_method(const MethodSpec& m, const toml::table* overrides, const Experiment& e, const std::string& origin) {
  auto refuse = [&](const std::string& key) -> std::string {
    if (key == "model.ffn" && !m.joint)
      return "sets model.ffn, but method '" + m.name + "' is defined by its FFN (" + m.ffn + "); only joint's can change";
    if (key == "train.steps" || key == "train.tokens" || key.rfind("data.", 0) == 0)
      return "sets " + key + ", but tokens_per_phase and the domains decide what every method reads";
    if (m.big_pool && key.rfind("peer.n", 0) == 0) return "sets " + key + ", but peer_big's pool size follows freeze-and-add's";
    if (key == "train.seed" && !e.seeds.empty()) return "sets train.seed, but [experiment] seeds decides it";
    return "";
  };
  std::vector<std::string> sets = {"model.ffn='" + m.ffn + "'"};
  if (m.big_pool)
    for (const std::string& x : big_pool_sets(e, origin)) sets.push_back(x);
  return parse_overrides(m.name, overrides, e.base_toml, sets, refuse, origin + ": method '" + m.name + "'",
                         origin + " [base]");
}

void parse_replay(const toml::table& exp, LifelongSpec& s, const std::string& origin) {
  s.replay_tokens = positive_int(exp, "replay_tokens", 65536, false, origin);
  s.replay_fraction = 0.03;
  if (const toml::node* n = exp.get("replay_fraction")) {
    if (!n->is_number()) throw InputError(origin + ": [experiment] replay_fraction: expected a number");
    s.replay_fraction = *n->value<double>();
    if (!(s.replay_fraction >= 0.0 && s.replay_fraction < 1.0))
      throw InputError(origin + ": [experiment] replay_fraction = " + literal(*n) +
                       ": must be in [0, 1) (the share of each batch drawn from earlier domains)");
  }
}

// [pretrain]: genres or files (like a domain) and tokens; trained once before the stream.
void parse_pretrain(const toml::table& root, Experiment& e, const std::string& origin) {
  const toml::node* n = root.get("pretrain");
  if (!n) return;
  const toml::table* t = n->as_table();
  if (!t) throw InputError(origin + ": pretrain must be a [pretrain] table with genres or files, and tokens");
  toml::table d = *t;
  const toml::node* tokens = d.get("tokens");
  if (!tokens || !tokens->is_integer() || *tokens->value<int64_t>() <= 0)
    throw InputError(origin + ": [pretrain] needs tokens = N > 0 (tokens trained before the stream)");
  e.lifelong.pretrain_tokens = *tokens->value<int64_t>();
  d.erase("tokens");
  if (!d.contains("name")) d.insert("name", "pretrain");
  e.lifelong.pretrain = parse_domain(d, origin + ": [pretrain]", e.base.data);
}

// A name of `methods` is a known method, or any name whose [method.NAME] table says like = "KNOWN".
std::vector<std::string> parse_method_names(const toml::table& exp, const toml::table* tables, const std::string& origin) {
  if (!exp.contains("methods")) return lifelong_methods();
  std::vector<std::string> names = string_list(exp.get("methods"), origin + ": [experiment] methods");
  if (names.empty()) throw InputError(origin + ": [experiment] methods is empty");
  std::set<std::string> seen;
  for (const std::string& m : names) {
    const auto& known = lifelong_methods();
    const toml::table* t = tables ? (*tables)[m].as_table() : nullptr;
    if (std::find(known.begin(), known.end(), m) == known.end() && !(t && t->contains("like")))
      throw InputError(origin + ": [experiment] methods: unknown method '" + m + "' (known: " +
                       absl::StrJoin(known, ", ") + "; or give [method." + m + "] like = \"KNOWN\")");
    if (!seen.insert(m).second) throw InputError(origin + ": [experiment] methods: '" + m + "' appears twice");
  }
  return names;
}

}  // namespace

void parse_lifelong(const toml::table& root, Experiment& e, const std::string& origin) {
  for (const auto& [k, _] : root)
    if (k != "experiment" && k != "base" && k != "domains" && k != "method" && k != "pretrain")
      throw InputError(origin + ": unknown top-level key '" + std::string(k.str()) +
                       "' (a lifelong experiment has [experiment], [base] or base = \"file\", [pretrain], "
                       "[[domains]], [method.NAME])");
  const toml::table& exp = *root["experiment"].as_table();
  for (const auto& [k, _] : exp)
    if (!kLifelongKeys.count(std::string(k.str())))
      throw InputError(origin + ": unknown [experiment] key '" + std::string(k.str()) + "' (known for lifelong: " +
                       absl::StrJoin(kLifelongKeys, ", ") + ")");
  LifelongSpec& s = e.lifelong;
  s.tokens_per_phase = positive_int(exp, "tokens_per_phase", -1, false, origin);
  s.eval_tokens = positive_int(exp, "eval_tokens", 0, true, origin);
  s.pool = parse_pool(exp, e.base, origin);
  s.rewarm = flag(exp, "rewarm", true, origin);
  e.seeds = parse_seeds(exp, origin);  // empty when absent: the base's train.seed
  s.seeds = e.seeds.empty() ? std::vector<int64_t>{e.base.train.seed} : e.seeds;
  parse_replay(exp, s, origin);
  s.domains = parse_domains(root, e.base.data, origin);
  parse_pretrain(root, e, origin);

  const toml::table* overrides = root["method"].as_table();
  if (root.contains("method") && !overrides) throw InputError(origin + ": method must be [method.NAME] tables");
  const std::vector<std::string> names = parse_method_names(exp, overrides, origin);
  if (overrides)
    for (const auto& [k, v] : *overrides) {
      if (std::find(names.begin(), names.end(), std::string(k.str())) == names.end())
        throw InputError(origin + ": [method." + std::string(k.str()) + "] names no method in [experiment] methods");
      if (!v.is_table()) throw InputError(origin + ": method." + std::string(k.str()) + " must be a table of overrides");
    }
  for (const std::string& m : names) {
    toml::table t = overrides && (*overrides)[m].as_table() ? *(*overrides)[m].as_table() : toml::table();
    s.methods.push_back(resolve_method(m, t, s.rewarm, origin + ": method '" + m + "'"));
    Job v = parse_method(s.methods.back(), &t, e, origin);
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
