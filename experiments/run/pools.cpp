#include "experiments/run/pools.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

#include "core/error.h"

namespace peer {

std::vector<std::pair<std::string, PeerLayer*>> peer_layers(LanguageModel& model) {
  std::vector<std::pair<std::string, PeerLayer*>> out;
  for (size_t l = 0; l < model.blocks.size(); ++l)
    if (auto* p = dynamic_cast<PeerLayer*>(model.blocks[l]->ffn.get()))
      out.emplace_back("blocks." + std::to_string(l) + ".ffn", p);
  return out;
}

void restore_structure(LanguageModel& model, const CheckpointInfo& info) {
  for (auto& [name, layer] : peer_layers(model)) {
    auto it = info.pools.find(name);
    if (it == info.pools.end()) continue;
    for (size_t i = layer->pools.size(); i < it->second.size(); ++i) layer->add_pool(it->second[i]);
  }
  for (Parameter* p : model.parameters())
    if (!p->buffer) p->frozen = info.frozen.count(p->name) > 0;
}

namespace {

double rms(const std::vector<const Parameter*>& ps) {
  double sum = 0.0;
  int64_t n = 0;
  for (const Parameter* p : ps) {
    for (int64_t i = 0; i < p->value.numel(); ++i) sum += double(p->value[i]) * p->value[i];
    n += p->value.numel();
  }
  return std::sqrt(sum / double(std::max<int64_t>(n, 1)));
}

// Over the product keys of every pool of the layer.
double key_rms(const PeerLayer& layer) {
  std::vector<const Parameter*> keys;
  for (const auto& pool : layer.pools) keys.insert(keys.end(), {&pool->keys1, &pool->keys2});
  return rms(keys);
}

}  // namespace

int64_t grow_pools(LanguageModel& model, const GrowOptions& o) {
  auto layers = peer_layers(model);
  std::vector<int64_t> experts;  // per layer, with the new pool: checked before anything is allocated
  for (auto& [name, layer] : layers) experts.push_back(layer->num_experts() + o.shape.size());
  if (!layers.empty())
    check_peer_experts(experts, layers[0].second->pools[0]->U.value.shape().back(),
                       o.origin + " (" + std::to_string(o.shape.n1) + "x" + std::to_string(o.shape.n2) + ")");
  if (o.freeze_non_expert) {
    std::set<const Parameter*> inside;
    for (auto& [name, layer] : layers)
      for (const Parameter* p : layer->parameters()) inside.insert(p);
    for (Parameter* p : model.parameters())
      if (!inside.count(p) && !p->buffer) p->frozen = true;
  }
  for (auto& [name, layer] : layers) {
    for (auto& pool : layer->pools)
      if (o.freeze_existing) pool->set_frozen(true);
    layer->query.set_frozen(o.freeze_query);
    if (layer->query_bn) layer->query_bn->set_frozen(o.freeze_query);
    const double old_rms = o.match_key_scale ? key_rms(*layer) : 0.0;
    layer->add_pool(o.shape);
    if (o.match_key_scale) {
      ExpertPool& fresh = *layer->pools.back();
      const float scale = float(old_rms / rms({&fresh.keys1, &fresh.keys2}));
      for (Parameter* k : {&fresh.keys1, &fresh.keys2})
        for (int64_t i = 0; i < k->value.numel(); ++i) k->value[i] *= scale;
    }
  }
  return int64_t(layers.size());
}

std::unique_ptr<AdamW> grow_pools_keep_optimizer(LanguageModel& model, const GrowOptions& o, AdamW& old,
                                                 const AdamWOptions& opt, const std::string& who) {
  if (grow_pools(model, o) == 0) throw InputError(who + " has no PEER layer to add a pool to");
  auto grown = std::make_unique<AdamW>(model.parameters(), opt);
  grown->adopt_state(old);
  return grown;
}

PoolShape parse_pool_size(const std::string& text, const std::string& flag) {
  auto bad = [&](const std::string& why) { return InputError(flag + " '" + text + "': " + why); };
  const std::string too_many = "more than 2^31 - 1 experts (expert indices are 32-bit)";
  // A whole number and nothing after it (std::stoll alone would read "8x8x8" or "64abc" as 8, 64).
  auto whole = [](const std::string& s) {
    size_t end = 0;
    const int64_t v = std::stoll(s, &end);
    if (end != s.size()) throw std::invalid_argument("trailing text");
    return v;
  };
  try {
    size_t x = text.find('x');
    if (x != std::string::npos) {
      PoolShape s{whole(text.substr(0, x)), whole(text.substr(x + 1))};
      if (s.n1 < 1 || s.n2 < 1) throw bad("both sides must be >= 1");
      if (s.n1 > kMaxExperts || s.n2 > kMaxExperts || s.size() > kMaxExperts) throw bad(too_many);
      return s;
    }
    int64_t n = whole(text);
    if (n > kMaxExperts) throw bad(too_many);
    auto side = int64_t(std::llround(std::sqrt(double(n))));
    if (n < 1 || side * side != n) throw bad("not n1 * n2 with n1 = n2 (give N1xN2 for a non-square pool)");
    return {side, side};
  } catch (const std::logic_error&) {
    throw bad("expected N or N1xN2");
  }
}

}  // namespace peer
