#include "experiments/run/config.h"

#include <cmath>
#include <functional>
#include <memory>
#include <sstream>
#include <toml++/toml.h>

#include "core/error.h"
#include "core/io/atomic_file.h"

namespace peer {

namespace {

// One schema entry: a dotted key bound to a member of Config, with typed read and write.
struct Field {
  std::string key;
  std::function<void(Config&, const toml::node&)> read;
  std::function<void(const Config&, toml::table&)> write;
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
    return *n.value<double>();
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
void write_value(toml::table& section, const std::string& name, const T& v) {
  if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    toml::array a;
    for (const auto& s : v) a.push_back(s);
    section.insert_or_assign(name, std::move(a));
  } else {
    section.insert_or_assign(name, v);
  }
}

template <class Section, class T>
Field field(const std::string& key, Section Config::*sec, T Section::*member) {
  std::string section = key.substr(0, key.find('.')), name = key.substr(key.find('.') + 1);
  return {key, [=](Config& c, const toml::node& n) { (c.*sec).*member = read_value<T>(key, n); },
          [=](const Config& c, toml::table& root) {
            if (!root.contains(section)) root.insert(section, toml::table{});
            write_value(*root[section].as_table(), name, (c.*sec).*member);
          }};
}

const std::vector<Field>& schema() {
  using C = Config;
  static const std::vector<Field> fields = {
      field("model.n_embd", &C::model, &ModelConfig::n_embd),
      field("model.n_head", &C::model, &ModelConfig::n_head),
      field("model.n_layer", &C::model, &ModelConfig::n_layer),
      field("model.block_size", &C::model, &ModelConfig::block_size),
      field("model.dropout", &C::model, &ModelConfig::dropout),
      field("model.ffn", &C::model, &ModelConfig::ffn),
      field("model.ffn_every", &C::model, &ModelConfig::ffn_every),
      field("model.d_ff", &C::model, &ModelConfig::d_ff),
      field("model.activation", &C::model, &ModelConfig::activation),
      field("model.init", &C::model, &ModelConfig::init),
      field("moe.num_experts", &C::moe, &MoEConfig::num_experts),
      field("moe.top_k", &C::moe, &MoEConfig::top_k),
      field("moe.d_expert", &C::moe, &MoEConfig::d_expert),
      field("moe.router", &C::moe, &MoEConfig::router),
      field("moe.capacity_factor", &C::moe, &MoEConfig::capacity_factor),
      field("moe.eval_capacity_factor", &C::moe, &MoEConfig::eval_capacity_factor),
      field("moe.load_balance_coef", &C::moe, &MoEConfig::load_balance_coef),
      field("moe.importance_coef", &C::moe, &MoEConfig::importance_coef),
      field("moe.z_loss_coef", &C::moe, &MoEConfig::z_loss_coef),
      field("moe.num_shared", &C::moe, &MoEConfig::num_shared),
      field("peer.num_experts", &C::peer, &PeerConfig::num_experts),
      field("peer.n1", &C::peer, &PeerConfig::n1),
      field("peer.n2", &C::peer, &PeerConfig::n2),
      field("peer.heads", &C::peer, &PeerConfig::heads),
      field("peer.top_k", &C::peer, &PeerConfig::top_k),
      field("peer.d_key", &C::peer, &PeerConfig::d_key),
      field("peer.activation", &C::peer, &PeerConfig::activation),
      field("peer.query_batchnorm", &C::peer, &PeerConfig::query_batchnorm),
      field("peer.key_init_std", &C::peer, &PeerConfig::key_init_std),
      field("peer.expert_init_std", &C::peer, &PeerConfig::expert_init_std),
      field("train.steps", &C::train, &TrainConfig::steps),
      field("train.tokens", &C::train, &TrainConfig::tokens),
      field("train.batch_size", &C::train, &TrainConfig::batch_size),
      field("train.lr", &C::train, &TrainConfig::lr),
      field("train.min_lr_ratio", &C::train, &TrainConfig::min_lr_ratio),
      field("train.weight_decay", &C::train, &TrainConfig::weight_decay),
      field("train.warmup_steps", &C::train, &TrainConfig::warmup_steps),
      field("train.grad_clip", &C::train, &TrainConfig::grad_clip),
      field("train.eval_every", &C::train, &TrainConfig::eval_every),
      field("train.eval_batches", &C::train, &TrainConfig::eval_batches),
      field("train.log_every", &C::train, &TrainConfig::log_every),
      field("train.sample_tokens", &C::train, &TrainConfig::sample_tokens),
      field("train.seed", &C::train, &TrainConfig::seed),
      field("train.threads", &C::train, &TrainConfig::threads),
      field("train.device", &C::train, &TrainConfig::device),
      field("train.sparse_adam", &C::train, &TrainConfig::sparse_adam),
      field("data.source", &C::data, &DataConfig::source),
      field("data.files", &C::data, &DataConfig::files),
      field("data.genres", &C::data, &DataConfig::genres),
      field("data.dir", &C::data, &DataConfig::dir),
      field("data.val_fraction", &C::data, &DataConfig::val_fraction),
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
    if (!f) throw InputError(source[key] + ": unknown config key '" + key + "'");
    f->read(c, *node);
  }
  validate(c);
  return c;
}

Config load_config(const std::string& path, const std::vector<std::string>& sets) {
  return parse_config(read_file(path), path, sets);
}

std::string to_toml(const Config& c) {
  toml::table root;
  for (const Field& f : schema()) f.write(c, root);
  std::ostringstream ss;
  ss << root << "\n";
  return ss.str();
}

std::pair<int64_t, int64_t> Config::peer_sides() const {
  if (peer.n1 > 0 || peer.n2 > 0) return {peer.n1, peer.n2};
  auto n = int64_t(std::llround(std::sqrt(double(peer.num_experts))));
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
