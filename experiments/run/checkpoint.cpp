#include "experiments/run/checkpoint.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "experiments/run/pools.h"

namespace peer {

namespace {
constexpr const char* kFormat = "peer-checkpoint-1";

std::string vocab_json(const Tokenizer& tok) {
  nlohmann::json a = nlohmann::json::array();
  for (unsigned char c : tok.symbols()) a.push_back(int(c));
  return a.dump();
}

// Named host views of tensors; one on a GPU is copied (a deque: pointers stay valid).
struct HostTensors {
  std::deque<Tensor> copies;
  std::vector<std::pair<std::string, const Tensor*>> list;
  void add(const std::string& name, const Tensor& t) {
    if (t.device() != Device::CPU) copies.push_back(t.to(Device::CPU));
    list.emplace_back(name, t.device() == Device::CPU ? &t : &copies.back());
  }
  // The name of the first tensor holding a NaN or an infinity, or "".
  std::string first_non_finite() const {
    for (const auto& [name, t] : list) {
      const float* v = t->data();
      for (int64_t i = 0; i < t->numel(); ++i)
        if (!std::isfinite(v[i])) return name;
    }
    return "";
  }
};

void copy_into(const std::string& path, const std::string& name, const Tensor& src, Tensor& dst) {
  if (src.shape() != dst.shape())
    throw InputError("checkpoint '" + path + "': tensor '" + name + "' has shape " + src.shape_str() +
                     " but the model expects " + dst.shape_str() + " (a checkpoint of a different model shape?)");
  if (dst.device() == Device::CPU) std::memcpy(dst.data(), src.data(), size_t(dst.numel()) * sizeof(float));
  else dst = src.to(dst.device());  // a model trained on a GPU is restored there
}
}  // namespace

void save_checkpoint(const std::string& path, LanguageModel& model, AdamW* opt, const Config& config,
                     const Tokenizer& tok, int64_t step) {
  HostTensors tensors;
  for (Parameter* p : model.parameters()) tensors.add("model." + p->name, p->value);
  if (opt) {
    for (auto& [name, s] : opt->state()) {
      tensors.add("optim.m." + name, s.m);
      tensors.add("optim.v." + name, s.v);
    }
  }
  if (const std::string bad = tensors.first_non_finite(); !bad.empty())
    throw NonFiniteError("the state after step " + std::to_string(step) + " holds a NaN or an infinity (tensor '" +
                         bad + "'); no checkpoint written for it");
  nlohmann::json pools = nlohmann::json::object(), frozen = nlohmann::json::array();
  for (auto& [name, layer] : peer_layers(model))
    for (auto& pool : layer->pools)
      pools[name].push_back({{"n1", pool->shape.n1}, {"n2", pool->shape.n2}, {"frozen", pool->frozen()}});
  for (const Parameter* p : model.parameters())
    if (p->frozen) frozen.push_back(p->name);
  Metadata meta = {{"peer.format", kFormat},
                   {"peer.pools", pools.dump()},
                   {"peer.frozen", frozen.dump()},
                   {"peer.config", to_toml(with_absolute_paths(config))},  // as config.toml
                   {"peer.vocab", vocab_json(tok)},
                   {"peer.step", std::to_string(step)},
                   {"peer.optim_steps", std::to_string(opt ? opt->steps() : 0)}};
  save_safetensors(path, tensors.list, meta);
}

void require_finite_parameters(LanguageModel& model, const std::string& origin) {
  HostTensors tensors;
  for (Parameter* p : model.parameters()) tensors.add(p->name, p->value);
  if (const std::string bad = tensors.first_non_finite(); !bad.empty())
    throw NonFiniteError(origin + ": parameter '" + bad + "' holds a NaN or an infinity (the run diverged)");
}

namespace {
InputError bad_metadata(const std::string& path, const std::string& key, const std::string& why) {
  return InputError("checkpoint '" + path + "': metadata " + key + ": " + why);
}

int64_t metadata_count(const Metadata& meta, const std::string& key, const std::string& path) {
  auto it = meta.find(key);
  if (it == meta.end()) throw bad_metadata(path, key, "missing");
  int64_t v = 0;
  const char *begin = it->second.data(), *end = begin + it->second.size();
  auto [ptr, ec] = std::from_chars(begin, end, v);
  if (ec != std::errc() || ptr != end || v < 0) throw bad_metadata(path, key, "'" + it->second + "' is not a count >= 0");
  return v;
}

// Metadata that is JSON (absent = `absent`), parsed and checked by `read` inside one catch.
template <class F>
void read_json(const Metadata& meta, const std::string& key, const char* absent, const std::string& path, F read) {
  auto it = meta.find(key);
  try {
    read(nlohmann::json::parse(it == meta.end() ? std::string(absent) : it->second));
  } catch (const nlohmann::json::exception& e) {
    throw bad_metadata(path, key, e.what());
  }
}

Tokenizer read_vocab(const Metadata& meta, const std::string& path) {
  std::string symbols;
  read_json(meta, "peer.vocab", "null", path, [&](const nlohmann::json& a) {
    if (!a.is_array() || a.empty()) throw bad_metadata(path, "peer.vocab", "not a non-empty array of bytes");
    std::set<int64_t> seen;
    for (const nlohmann::json& c : a) {
      if (!c.is_number_integer() || c.get<int64_t>() < 0 || c.get<int64_t>() > 255 || !seen.insert(c.get<int64_t>()).second)
        throw bad_metadata(path, "peer.vocab", "entries must be distinct integers in [0, 255]");
      symbols.push_back(char(c.get<int64_t>()));
    }
  });
  return Tokenizer::from_symbols(symbols);
}

// PEER layer name -> pool shapes, with every layer's experts within the limits (config.h).
std::map<std::string, std::vector<PoolShape>> read_pools(const Metadata& meta, const Config& c, const std::string& path) {
  std::map<std::string, std::vector<PoolShape>> pools;
  read_json(meta, "peer.pools", "{}", path, [&](const nlohmann::json& j) {
    if (!j.is_object()) throw bad_metadata(path, "peer.pools", "not a JSON object");
    for (auto& [name, list] : j.items()) {
      if (!list.is_array()) throw bad_metadata(path, "peer.pools", "'" + name + "' is not an array of pools");
      int64_t experts = 0;
      for (const nlohmann::json& p : list) {
        const nlohmann::json &n1 = p.at("n1"), &n2 = p.at("n2");
        if (!n1.is_number_integer() || !n2.is_number_integer() || n1.get<int64_t>() < 1 || n2.get<int64_t>() < 1 ||
            n1.get<int64_t>() > kMaxExperts || n2.get<int64_t>() > kMaxExperts)
          throw bad_metadata(path, "peer.pools", "'" + name + "': n1 and n2 must be integers in [1, 2^31 - 1]");
        pools[name].push_back({n1.get<int64_t>(), n2.get<int64_t>()});
        experts += pools[name].back().size();  // at most 2^31 - 1 + 2^62: fits
        if (experts > kMaxExperts)
          throw bad_metadata(path, "peer.pools", "'" + name + "' holds more than 2^31 - 1 experts (expert indices are 32-bit)");
      }
    }
  });
  std::vector<int64_t> experts;
  for (const auto& [name, list] : pools) {
    experts.push_back(0);
    for (const PoolShape& s : list) experts.back() += s.size();
  }
  check_peer_experts(experts, c.model.n_embd, "checkpoint '" + path + "': metadata peer.pools");
  return pools;
}
}  // namespace

CheckpointInfo read_checkpoint_info(const std::string& path) {
  return checkpoint_info(read_safetensors_metadata(path), path);
}

CheckpointInfo checkpoint_info(const Metadata& meta, const std::string& path) {
  auto format = meta.find("peer.format");
  if (format == meta.end() || format->second != kFormat) throw InputError("checkpoint '" + path + "': not a peer checkpoint");
  auto config = meta.find("peer.config");
  if (config == meta.end()) throw bad_metadata(path, "peer.config", "missing");
  CheckpointInfo info;
  info.config = parse_config(config->second, path + " (stored config)");
  info.tokenizer = read_vocab(meta, path);
  info.step = metadata_count(meta, "peer.step", path);
  info.pools = read_pools(meta, info.config, path);
  read_json(meta, "peer.frozen", "[]", path, [&](const nlohmann::json& j) {
    info.frozen = j.get<std::set<std::string>>();
  });
  return info;
}

void load_checkpoint(const std::string& path, LanguageModel& model, AdamW* opt) {
  SafetensorsFile f = load_safetensors(path);
  auto find = [&](const std::string& name) -> const Tensor& {
    auto it = f.tensors.find(name);
    if (it == f.tensors.end()) throw InputError("checkpoint '" + path + "': tensor '" + name + "' is missing");
    return it->second;
  };
  for (Parameter* p : model.parameters()) copy_into(path, p->name, find("model." + p->name), p->value);
  if (opt) {
    for (auto& [name, s] : opt->state()) {
      copy_into(path, "optim.m." + name, find("optim.m." + name), s.m);
      copy_into(path, "optim.v." + name, find("optim.v." + name), s.v);
    }
    opt->set_steps(metadata_count(f.metadata, "peer.optim_steps", path));
  }
}

}  // namespace peer
