#include "experiments/run/config.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <functional>
#include <memory>
#include <sstream>
#include <tuple>
#include <toml++/toml.h>

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "experiments/run/suggest.h"
#include "peer/peer_layer.h"

namespace peer {

namespace {

// One schema entry: a dotted key bound to a member of Config, with typed read and write, and the
// documentation `peer config keys` prints.
struct Field {
  std::string key;
  const char* type;
  const char* meaning;
  std::function<void(Config&, const toml::node&)> read;
  std::function<std::string(const Config&)> literal;  // the value as TOML
  bool resumable = false;  // `peer train --resume` may change it (resumable())
};

[[noreturn]] void type_error(const std::string& key, const char* expected) {
  throw InputError("config key '" + key + "': expected " + expected);
}

template <class T>
T read_value(const std::string& key, const toml::node& n) {
  if constexpr (std::is_same_v<T, int64_t>) {
    if (!n.is_integer()) type_error(key, "an integer");
    return *n.value<int64_t>();
  } else if constexpr (std::is_same_v<T, double>) {
    if (!n.is_number()) type_error(key, "a number");
    const double v = *n.value<double>();
    // inf and nan are TOML floats, but no key means anything by them (and casts of them are undefined).
    if (!std::isfinite(v)) type_error(key, "a finite number");
    return v;
  } else if constexpr (std::is_same_v<T, bool>) {
    if (!n.is_boolean()) type_error(key, "true or false");
    return *n.value<bool>();
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (!n.is_string()) type_error(key, "a string");
    return *n.value<std::string>();
  } else {
    static_assert(std::is_same_v<T, std::vector<std::string>>);
    const toml::array* a = n.as_array();
    if (!a) type_error(key, "an array of strings");
    std::vector<std::string> out;
    for (const toml::node& e : *a) {
      if (!e.is_string()) type_error(key, "an array of strings");
      out.push_back(*e.value<std::string>());
    }
    return out;
  }
}

template <class T>
const char* type_name() {
  if constexpr (std::is_same_v<T, int64_t>) return "integer";
  else if constexpr (std::is_same_v<T, double>) return "float";
  else if constexpr (std::is_same_v<T, bool>) return "boolean";
  else if constexpr (std::is_same_v<T, std::string>) return "string";
  else return "string array";
}

// toml++ writes doubles with 17 significant digits (0.1 as 0.10000000000000001); to_chars gives
// the shortest text that reads back as the same double.
std::string float_literal(double v) {
  char buf[64];
  std::string s(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
  // "2" would read back as an integer; "1e-05", "inf" and "nan" are TOML floats as they are.
  if (s.find_first_of(".ein") == std::string::npos) s += ".0";
  return s;
}

template <class T>
std::string value_literal(const T& v) {
  if constexpr (std::is_same_v<T, double>) {
    return float_literal(v);
  } else {
    std::ostringstream ss;
    if constexpr (std::is_same_v<T, std::vector<std::string>>) {
      toml::array a;
      for (const auto& s : v) a.push_back(s);
      ss << a;
    } else {
      ss << toml::value<T>(v);  // toml++ quotes and escapes strings
    }
    return ss.str();
  }
}

template <class Section, class T>
Field field(const std::string& key, Section Config::*sec, T Section::*member, const char* meaning) {
  return {key, type_name<T>(), meaning,
          [=](Config& c, const toml::node& n) { (c.*sec).*member = read_value<T>(key, n); },
          [=](const Config& c) { return value_literal((c.*sec).*member); }};
}

// A key that `peer train --resume` may change: how long the run goes, what it logs and evaluates
// and on how many threads, never the model, the data or how it is trained.
Field resumable(Field f) {
  f.resumable = true;
  return f;
}

const std::vector<Field>& schema() {
  using C = Config;
  static const std::vector<Field> fields = {
      field("model.n_embd", &C::model, &ModelConfig::n_embd, "width of the residual stream"),
      field("model.n_head", &C::model, &ModelConfig::n_head, "attention heads; must divide n_embd"),
      field("model.n_layer", &C::model, &ModelConfig::n_layer, "transformer blocks"),
      field("model.block_size", &C::model, &ModelConfig::block_size, "context length in tokens (bytes)"),
      field("model.dropout", &C::model, &ModelConfig::dropout, "dropout probability, in [0, 1): attention weights, attention output and every FFN slot's output (dense, MoE, PEER)"),
      field("model.ffn", &C::model, &ModelConfig::ffn, "FFN of the expert blocks: dense, moe, peer, pkm or memory_plus"),
      field("model.ffn_every", &C::model, &ModelConfig::ffn_every,
            "every n-th block (n-1, 2n-1, ...) holds the expert FFN, the others a dense one"),
      field("model.d_ff", &C::model, &ModelConfig::d_ff, "hidden width of a dense FFN; 0 = 4 * n_embd"),
      field("model.activation", &C::model, &ModelConfig::activation, "FFN and MoE expert activation: relu or gelu"),
      field("model.init", &C::model, &ModelConfig::init, "weight init: kaiming, xavier or normal"),
      field("moe.num_experts", &C::moe, &MoEConfig::num_experts, "routed experts per MoE layer"),
      field("moe.top_k", &C::moe, &MoEConfig::top_k, "experts each token is routed to"),
      field("moe.d_expert", &C::moe, &MoEConfig::d_expert,
            "hidden width of one expert; 0 = model.d_ff (granularity G = d_ff / d_expert = 1)"),
      field("moe.router", &C::moe, &MoEConfig::router, "topk, noisy_topk or switch (top-1)"),
      field("moe.capacity_factor", &C::moe, &MoEConfig::capacity_factor,
            "training: an expert takes ceil(factor * tokens * top_k / num_experts) tokens, drops the rest; 0 = dropless"),
      field("moe.eval_capacity_factor", &C::moe, &MoEConfig::eval_capacity_factor,
            "the same for evaluation; 0 = dropless"),
      field("moe.load_balance_coef", &C::moe, &MoEConfig::load_balance_coef, "weight of the load-balancing loss"),
      field("moe.importance_coef", &C::moe, &MoEConfig::importance_coef, "weight of the importance (CV^2) loss"),
      field("moe.z_loss_coef", &C::moe, &MoEConfig::z_loss_coef, "weight of the router z-loss"),
      field("moe.num_shared", &C::moe, &MoEConfig::num_shared,
            "shared experts (hidden d_expert each) that every token uses besides its routed ones"),
      field("peer.num_experts", &C::peer, &PeerConfig::num_experts,
            "single-neuron experts in the first pool; must be n1 * n2"),
      field("peer.n1", &C::peer, &PeerConfig::n1, "product-key side 1; 0 (with n2 = 0) = sqrt(num_experts)"),
      field("peer.n2", &C::peer, &PeerConfig::n2, "product-key side 2; 0 (with n1 = 0) = sqrt(num_experts)"),
      field("peer.heads", &C::peer, &PeerConfig::heads, "retrieval heads, each with its own query"),
      field("peer.top_k", &C::peer, &PeerConfig::top_k, "experts each head retrieves; at most min(n1, n2, 4096)"),
      field("peer.d_key", &C::peer, &PeerConfig::d_key, "query and key width; even (split into two halves)"),
      field("peer.activation", &C::peer, &PeerConfig::activation, "expert activation: relu or gelu"),
      field("peer.query_batchnorm", &C::peer, &PeerConfig::query_batchnorm, "batch-normalise the queries"),
      field("peer.key_init_std", &C::peer, &PeerConfig::key_init_std, "std of the product keys; 0 = (d_key/2)^-0.5"),
      field("peer.expert_init_std", &C::peer, &PeerConfig::expert_init_std,
            "std of the expert weights; 0 = n_embd^-0.5"),
      field("pkm.num_keys", &C::pkm, &PkmConfig::num_keys,
            "pkm and memory_plus: memory rows (values) N; must be n1 * n2"),
      field("pkm.n1", &C::pkm, &PkmConfig::n1, "product-key side 1; 0 (with n2 = 0) = sqrt(num_keys)"),
      field("pkm.n2", &C::pkm, &PkmConfig::n2, "product-key side 2; 0 (with n1 = 0) = sqrt(num_keys)"),
      field("pkm.heads", &C::pkm, &PkmConfig::heads, "memory read heads; their read-outs are summed"),
      field("pkm.top_k", &C::pkm, &PkmConfig::top_k,
            "memory rows each head reads (softmax of their scores); at most min(n1, n2)"),
      field("pkm.d_key", &C::pkm, &PkmConfig::d_key, "query and key width; even (split into two halves)"),
      field("pkm.query_batchnorm", &C::pkm, &PkmConfig::query_batchnorm, "batch-normalise the queries (as PKM)"),
      field("pkm.shared_keys", &C::pkm, &PkmConfig::shared_keys,
            "one set of product keys for all heads; false = one per head (PKM's default)"),
      field("pkm.value_dim", &C::pkm, &PkmConfig::value_dim,
            "width of a memory row; 0 = n_embd (pkm needs n_embd; memory_plus: the gate width)"),
      field("memory_plus.shared_pool", &C::memory_plus, &MemoryPlusConfig::shared_pool,
            "ffn = memory_plus only: one value table shared by every memory_plus block (counted and saved once)"),
      field("memory_plus.qk_norm", &C::memory_plus, &MemoryPlusConfig::qk_norm,
            "ffn = memory_plus only: LayerNorm on each query half and normalised sub-keys"),
      resumable(field("train.steps", &C::train, &TrainConfig::steps, "optimizer steps (when train.tokens = 0)")),
      resumable(field("train.tokens", &C::train, &TrainConfig::tokens,
                      "when > 0, steps = ceil(tokens / (batch_size * block_size)); 0 = use steps")),
      field("train.batch_size", &C::train, &TrainConfig::batch_size, "sequences per step"),
      field("train.lr", &C::train, &TrainConfig::lr, "peak learning rate (AdamW)"),
      field("train.min_lr_ratio", &C::train, &TrainConfig::min_lr_ratio,
            "the cosine decay ends at lr * min_lr_ratio, in [0, 1]"),
      field("train.weight_decay", &C::train, &TrainConfig::weight_decay, "AdamW weight decay (not on norms, biases, embeddings)"),
      field("train.warmup_steps", &C::train, &TrainConfig::warmup_steps, "linear warmup steps before the cosine decay"),
      field("train.grad_clip", &C::train, &TrainConfig::grad_clip, "clip the global gradient norm; 0 = no clipping"),
      resumable(field("train.eval_every", &C::train, &TrainConfig::eval_every, "steps between validation evaluations")),
      resumable(field("train.eval_batches", &C::train, &TrainConfig::eval_batches,
                      "batches per validation evaluation")),
      resumable(field("train.log_every", &C::train, &TrainConfig::log_every, "steps between training-loss rows")),
      resumable(field("train.sample_tokens", &C::train, &TrainConfig::sample_tokens,
                      "text sampled at the end of a run, in tokens; 0 = none")),
      field("train.seed", &C::train, &TrainConfig::seed, "seed of init, data order, dropout and routing noise"),
      resumable(field("train.threads", &C::train, &TrainConfig::threads, "CPU threads, in [1, 1024]")),
      field("train.device", &C::train, &TrainConfig::device, "cpu or cuda (cuda: dense, MoE and PEER FFNs on a CUDA device; PKM and Memory+ are refused for now)"),
      field("train.sparse_adam", &C::train, &TrainConfig::sparse_adam,
            "expert tables: lazy (update the rows used) or dense (every row, every step)"),
      field("data.source", &C::data, &DataConfig::source, "brown (the Brown corpus) or files"),
      field("data.files", &C::data, &DataConfig::files, "source = files: text files or folders of them"),
      field("data.genres", &C::data, &DataConfig::genres, "source = brown: genre codes ca .. cr; empty = all"),
      field("data.dir", &C::data, &DataConfig::dir, "where `peer data prepare` put the Brown genre files"),
      field("data.val_fraction", &C::data, &DataConfig::val_fraction,
            "held-out fraction of the text for validation, in (0, 1)"),
  };
  return fields;
}

const Field* find_field(const std::string& key) {
  for (const Field& f : schema())
    if (f.key == key) return &f;
  return nullptr;
}

toml::table parse_toml(const std::string& text, const std::string& origin) {
  try {
    return toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream msg;
    msg << origin << ":" << e.source().begin.line << ": " << e.description();
    throw InputError(msg.str());
  }
}

// Flattens "[section] key = v" into "section.key" -> node.
void flatten(const toml::table& root, std::map<std::string, const toml::node*>& out, const std::string& origin) {
  for (const auto& [section, node] : root) {
    const toml::table* t = node.as_table();
    if (!t) throw InputError(origin + ": key '" + std::string(section.str()) + "' must be inside a [section]");
    for (const auto& [key, value] : *t) out[std::string(section.str()) + "." + std::string(key.str())] = &value;
  }
}

}  // namespace

std::vector<std::string> config_keys() {
  std::vector<std::string> keys;
  for (const Field& f : schema()) keys.push_back(f.key);
  return keys;
}

std::vector<ConfigKeyDoc> config_key_docs() {
  std::vector<ConfigKeyDoc> docs;
  for (const Field& f : schema())
    docs.push_back({f.key, f.type, f.literal(Config{}),
                    f.meaning + std::string(f.resumable ? " (may change on --resume)" : "")});
  return docs;
}

std::vector<std::string> fixed_key_changes(const Config& before, const Config& now) {
  std::vector<std::string> changes;
  for (const Field& f : schema())
    if (!f.resumable && f.literal(before) != f.literal(now))
      changes.push_back(f.key + " (" + f.literal(before) + ", now " + f.literal(now) + ")");
  return changes;
}

std::string format_config_keys(bool markdown) {
  const std::vector<ConfigKeyDoc> docs = config_key_docs();
  std::ostringstream s;
  if (markdown) {
    // A '|' inside a cell would end it.
    auto cell = [](const std::string& t) {
      std::string out;
      for (char ch : t) out += ch == '|' ? std::string("\\|") : std::string(1, ch);
      return out;
    };
    s << "| key | type | default | meaning |\n|---|---|---|---|\n";
    for (const ConfigKeyDoc& d : docs)
      s << "| `" << d.key << "` | " << d.type << " | `" << cell(d.default_value) << "` | " << cell(d.meaning) << " |\n";
    return s.str();
  }
  size_t wk = 3, wt = 4, wd = 7;
  for (const ConfigKeyDoc& d : docs) {
    wk = std::max(wk, d.key.size());
    wt = std::max(wt, d.type.size());
    wd = std::max(wd, d.default_value.size());
  }
  auto row = [&](const std::string& k, const std::string& t, const std::string& d, const std::string& m) {
    s << k << std::string(wk - k.size() + 2, ' ') << t << std::string(wt - t.size() + 2, ' ') << d
      << std::string(wd - d.size() + 2, ' ') << m << "\n";
  };
  row("key", "type", "default", "meaning");
  for (const ConfigKeyDoc& d : docs) row(d.key, d.type, d.default_value, d.meaning);
  return s.str();
}

Config parse_config(const std::string& text, const std::string& origin, const std::vector<std::string>& sets) {
  toml::table root = parse_toml(text, origin);
  std::map<std::string, const toml::node*> values;
  flatten(root, values, origin);
  std::map<std::string, std::string> source;  // where each key came from, for messages
  for (const auto& [key, _] : values) source[key] = origin;
  // Overrides: each "key=value" parsed as a TOML literal, or as a string if that fails.
  std::vector<toml::table> owners;
  owners.reserve(sets.size());
  for (const std::string& s : sets) {
    size_t eq = s.find('=');
    if (eq == std::string::npos || eq == 0) throw InputError("--set '" + s + "': expected key=value");
    std::string key = s.substr(0, eq), value = s.substr(eq + 1);
    try {
      owners.push_back(toml::parse("v = " + value));
    } catch (const toml::parse_error&) {
      toml::table t;
      t.insert("v", value);
      owners.push_back(std::move(t));
    }
    values[key] = owners.back().get("v");
    source[key] = "--set " + key;
  }
  Config c;
  for (const auto& [key, node] : values) {
    const Field* f = find_field(key);
    if (!f) throw InputError(source[key] + ": unknown config key '" + key + "'" + did_you_mean(key, config_keys()));
    f->read(c, *node);
  }
  validate(c);  // before resolving: its messages speak of what the user wrote (n1 = n2 = 0 ...)
  resolve(c);
  return c;
}

Config load_config(const std::string& path, const std::vector<std::string>& sets) {
  return parse_config(read_file(path), path, sets);
}

void resolve(Config& c) {
  c.model.d_ff = c.d_ff();
  c.moe.d_expert = c.d_expert();
  std::tie(c.peer.n1, c.peer.n2) = c.peer_sides();
  // PeerLayer's own defaults, in float, so a resolved config builds the same weights.
  if (c.peer.key_init_std == 0.0) c.peer.key_init_std = default_key_init_std(c.peer.d_key);
  if (c.peer.expert_init_std == 0.0) c.peer.expert_init_std = default_expert_init_std(c.model.n_embd);
  std::tie(c.pkm.n1, c.pkm.n2) = c.pkm_sides();
  c.pkm.value_dim = c.pkm_value_dim();
  c.train.steps = c.total_steps();
}

Config with_absolute_paths(Config c) {
  auto absolute = [](std::string& path) {
    if (!path.empty()) path = std::filesystem::absolute(path).lexically_normal().string();
  };
  absolute(c.data.dir);
  for (std::string& f : c.data.files) absolute(f);
  return c;
}

std::string to_toml(const Config& c) {
  std::string out, section;
  for (const Field& f : schema()) {
    const size_t dot = f.key.find('.');
    if (f.key.substr(0, dot) != section) {
      section = f.key.substr(0, dot);
      out += (out.empty() ? "[" : "\n[") + section + "]\n";
    }
    out += f.key.substr(dot + 1) + " = " + f.literal(c) + "\n";
  }
  return out;
}

std::pair<int64_t, int64_t> Config::peer_sides() const {
  if (peer.n1 > 0 || peer.n2 > 0) return {peer.n1, peer.n2};
  auto n = int64_t(std::llround(std::sqrt(double(peer.num_experts))));
  return {n, n};
}

std::pair<int64_t, int64_t> Config::pkm_sides() const {
  if (pkm.n1 > 0 || pkm.n2 > 0) return {pkm.n1, pkm.n2};
  auto n = int64_t(std::llround(std::sqrt(double(pkm.num_keys))));
  return {n, n};
}

int64_t Config::total_steps() const {
  if (train.tokens > 0) {
    int64_t per_step = train.batch_size * model.block_size;
    return train.tokens / per_step + (train.tokens % per_step != 0);  // ceil, without overflow
  }
  return train.steps;
}

}  // namespace peer
