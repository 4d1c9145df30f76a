#include "experiments/run/checkpoint.h"

#include <cmath>
#include <cstring>
#include <deque>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/io/safetensors.h"
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

CheckpointInfo read_checkpoint_info(const std::string& path) {
  Metadata meta = read_safetensors_metadata(path);
  if (meta["peer.format"] != kFormat) throw InputError("checkpoint '" + path + "': not a peer checkpoint");
  CheckpointInfo info;
  info.config = parse_config(meta["peer.config"], path + " (stored config)");
  std::string symbols;
  try {
    for (int c : nlohmann::json::parse(meta["peer.vocab"])) symbols.push_back(char(c));
    info.step = std::stoll(meta["peer.step"]);
  } catch (const std::exception& e) {
    throw InputError("checkpoint '" + path + "': bad metadata: " + e.what());
  }
  info.tokenizer = Tokenizer::from_symbols(symbols);
  info.pools = meta.count("peer.pools") ? meta["peer.pools"] : "{}";
  info.frozen = meta.count("peer.frozen") ? meta["peer.frozen"] : "[]";
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
    opt->set_steps(std::stoll(f.metadata["peer.optim_steps"]));
  }
}

}  // namespace peer
