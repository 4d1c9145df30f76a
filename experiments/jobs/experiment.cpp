#include "experiments/jobs/experiment.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>
#include <sstream>
#include <toml++/toml.h>

#include "absl/strings/str_join.h"

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/io/input_file.h"
#include "experiments/run/accounting.h"
#include "experiments/jobs/parse.h"

namespace fs = std::filesystem;

namespace peer {

namespace {
const std::set<std::string> kSweepKeys = {"kind", "description", "steps", "tokens", "flops", "seeds"};
}  // namespace

std::string literal(const toml::node& n) {
  std::ostringstream ss;
  n.visit([&](const auto& v) { ss << v; });
  return ss.str();
}

namespace {

// Dotted overrides of one variant; nested tables ([variants.x.moe] or moe.top_k = 2 unquoted)
// flatten to the same "moe.top_k".
void flatten(const toml::table& t, const std::string& prefix, std::vector<std::pair<std::string, const toml::node*>>& out) {
  for (const auto& [k, v] : t) {
    std::string key = prefix + std::string(k.str());
    if (const toml::table* sub = v.as_table()) flatten(*sub, key + ".", out);
    else out.push_back({key, &v});
  }
}

}  // namespace

bool valid_name(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

Job parse_overrides(const std::string& name, const toml::table* t, const std::string& base_toml,
                        std::vector<std::string> sets, const std::function<std::string(const std::string&)>& refuse,
                        const std::string& where, const std::string& base_origin) {
  if (!valid_name(name)) throw InputError(where + ": names may hold only letters, digits, '-', '_' and '.'");
  const std::vector<std::string> known = config_keys();
  std::vector<std::pair<std::string, const toml::node*>> overrides;
  if (t) flatten(*t, "", overrides);
  for (const auto& [key, node] : overrides) {
    if (std::find(known.begin(), known.end(), key) == known.end())
      throw InputError(where + ": unknown config key '" + key + "'");
    if (std::string why = refuse(key); !why.empty()) throw InputError(where + ": " + why);
    sets.push_back(key + "=" + literal(*node));
  }
  Job v{name, sets, {}};
  // The base config is already valid, so an error here is the variant's.
  try {
    v.config = parse_config(base_toml, base_origin, v.sets);
  } catch (const InputError& err) {
    throw InputError(where + ": " + err.what());
  }
  return v;
}

namespace {

Budget parse_budget(const toml::table& exp, const std::string& origin) {
  Budget b;
  for (const char* key : {"steps", "tokens", "flops"}) {
    const toml::node* n = exp.get(key);
    if (!n) continue;
    if (b.kind != Budget::Kind::None)
      throw InputError(origin + ": [experiment] gives more than one budget; keep one of steps, tokens, flops");
    std::string what = origin + ": [experiment] " + key;
    if (!n->is_number()) throw InputError(what + ": expected a number");
    double v = *n->value<double>();
    if (!(v > 0.0) || !std::isfinite(v)) throw InputError(what + " = " + literal(*n) + ": must be > 0");
    if (std::string(key) != "flops" && v != std::floor(v)) throw InputError(what + ": must be a whole number");
    b.value = v;
    b.kind = std::string(key) == "steps" ? Budget::Kind::Steps
             : std::string(key) == "tokens" ? Budget::Kind::Tokens
                                            : Budget::Kind::Flops;
  }
  return b;
}

// Messages from parse_config name their origin for unknown keys but not for bad values; this
// makes every base-config error start with where the config came from.
Config parse_config_from(const std::string& text, const std::string& origin) {
  try {
    return parse_config(text, origin);
  } catch (const InputError& err) {
    const std::string msg = err.what();
    throw InputError(msg.rfind(origin, 0) == 0 ? msg : origin + ": " + msg);
  }
}

// Sets e.base_toml and e.base.
void parse_base(const toml::node* base, const std::string& origin, const std::string& base_dir, Experiment& e) {
  if (!base) throw InputError(origin + ": missing the base config ([base] tables, or base = \"file.toml\")");
  if (const auto* file = base->as_string()) {
    fs::path p = fs::path(file->get()).is_absolute() ? fs::path(file->get()) : fs::path(base_dir) / file->get();
    if (!fs::is_regular_file(p)) throw InputError(origin + ": base = '" + file->get() + "': no such file " + p.string());
    e.base_toml = read_file(p.string());
    e.base = parse_config_from(e.base_toml, p.string());
    return;
  }
  const toml::table* t = base->as_table();
  if (!t) throw InputError(origin + ": base must be a table ([base.model], ...) or a file name");
  std::ostringstream text;
  text << *t;
  e.base_toml = text.str();
  e.base = parse_config_from(e.base_toml, origin + " [base]");
}

Job parse_variant(const std::string& name, const toml::table& t, const Experiment& e, const std::string& origin) {
  auto refuse = [&](const std::string& key) -> std::string {
    if (!e.seeds.empty() && key == "train.seed")
      return "sets train.seed, but [experiment] seeds decides every variant's seeds; remove one of them";
    if (e.budget.kind != Budget::Kind::None && (key == "train.steps" || key == "train.tokens"))
      return "sets " + key + ", but the [experiment] budget (" + e.budget.describe() +
             ") decides every variant's length; remove one of them";
    return "";
  };
  return parse_overrides(name, &t, e.base_toml, {}, refuse, origin + ": variant '" + name + "'", origin + " [base]");
}

}  // namespace

std::vector<int64_t> parse_seeds(const toml::table& exp, const std::string& origin) {
  const toml::node* n = exp.get("seeds");
  if (!n) return {};
  const std::string what = origin + ": [experiment] seeds";
  const toml::array* a = n->as_array();
  if (!a) throw InputError(what + ": expected a list of whole numbers, e.g. seeds = [1, 2, 3]");
  if (a->empty()) throw InputError(what + " is empty; give at least one seed, or leave the key out");
  std::vector<int64_t> seeds;
  for (const toml::node& x : *a) {
    if (!x.is_integer() || *x.value<int64_t>() < 0)
      throw InputError(what + ": " + literal(x) + " is not a whole number >= 0");
    const int64_t s = *x.value<int64_t>();
    if (std::find(seeds.begin(), seeds.end(), s) != seeds.end())
      throw InputError(what + ": seed " + std::to_string(s) + " appears twice");
    seeds.push_back(s);
  }
  return seeds;
}

std::vector<int64_t> job_seeds(const Experiment& e, const Job& j) {
  return e.seeds.empty() ? std::vector<int64_t>{int64_t(j.config.train.seed)} : e.seeds;
}

std::string Budget::describe() const {
  std::ostringstream ss;
  switch (kind) {
    case Kind::None: return "none (each variant's train.steps / train.tokens)";
    case Kind::Steps: ss << "steps = " << int64_t(value); break;
    case Kind::Tokens: ss << "tokens = " << int64_t(value); break;
    case Kind::Flops: ss << "flops = " << value << " (iso-FLOP)"; break;
  }
  return ss.str();
}

Experiment parse_experiment(const std::string& text, const std::string& origin, const std::string& base_dir) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& err) {
    throw InputError(origin + ":" + std::to_string(err.source().begin.line) + ": " + std::string(err.description()));
  }
  const toml::table* exp = root["experiment"].as_table();
  if (!exp) throw InputError(origin + ": missing [experiment] table with kind = \"sweep\" or \"lifelong\"");
  Experiment e;
  e.path = origin;
  e.kind = exp->get("kind") ? exp->get("kind")->value_or(std::string()) : "";
  if (e.kind != "sweep" && e.kind != "lifelong")
    throw InputError(origin + ": [experiment] kind must be \"sweep\" or \"lifelong\"" +
                     (e.kind.empty() ? std::string(" (missing or not a string)") : ", not '" + e.kind + "'"));
  e.description = exp->get("description") ? exp->get("description")->value_or(std::string()) : "";
  parse_base(root.get("base"), origin, base_dir, e);
  if (e.kind == "lifelong") {
    parse_lifelong(root, e, origin);
    return e;
  }
  for (const auto& [k, _] : root)
    if (k != "experiment" && k != "base" && k != "variants")
      throw InputError(origin + ": unknown top-level key '" + std::string(k.str()) +
                       "' (expected [experiment], [base] or base = \"file\", [variants.NAME])");
  for (const auto& [k, _] : *exp)
    if (!kSweepKeys.count(std::string(k.str())))
      throw InputError(origin + ": unknown [experiment] key '" + std::string(k.str()) + "' (known: " +
                       absl::StrJoin(kSweepKeys, ", ") + ")");
  e.budget = parse_budget(*exp, origin);
  e.seeds = parse_seeds(*exp, origin);

  const toml::table* vars = root["variants"].as_table();
  if (!vars || vars->empty()) throw InputError(origin + ": no variants (add [variants.NAME] tables)");
  // toml++ keeps keys sorted; the sweep runs variants in the order the file lists them.
  std::vector<std::pair<toml::source_index, std::string>> order;
  for (const auto& [k, v] : *vars) {
    if (!v.is_table())
      throw InputError(origin + ": variants." + std::string(k.str()) + " must be a table of overrides");
    order.push_back({v.source().begin.line, std::string(k.str())});
  }
  std::sort(order.begin(), order.end());
  for (const auto& [_, name] : order) e.jobs.push_back(parse_variant(name, *(*vars)[name].as_table(), e, origin));
  return e;
}

Experiment load_experiment(const std::string& path) {
  regular_file_size(path, "experiment file");  // missing, a directory, a FIFO: exit 2 naming it
  return parse_experiment(read_file(path), path, fs::path(path).parent_path().string());
}

void apply_budget(Config& c, const Budget& b, int64_t vocab_size, const std::string& who) {
  const double per_step = double(c.train.batch_size * c.model.block_size);
  double steps = 0;
  switch (b.kind) {
    case Budget::Kind::None: return;
    case Budget::Kind::Steps: steps = b.value; break;
    case Budget::Kind::Tokens: steps = std::ceil(b.value / per_step); break;
    case Budget::Kind::Flops: steps = std::floor(b.value / (account(c, vocab_size).train_flops() * per_step)); break;
  }
  if (steps < 1.0) {
    std::ostringstream msg;
    msg << who << ": the budget " << b.describe() << " is less than one training step (one step is "
        << account(c, vocab_size).train_flops() * per_step << " FLOPs)";
    throw InputError(msg.str());
  }
  c.train.steps = int64_t(steps);
  c.train.tokens = 0;
  validate(c);
}

}  // namespace peer
