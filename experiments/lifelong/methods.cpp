#include "experiments/lifelong/methods.h"

#include <algorithm>
#include <stdexcept>

#include "core/error.h"
#include "experiments/jobs/experiment.h"

namespace peer {

namespace {

// The ladder: each rung is the one before plus one change.
std::vector<MethodSpec> ladder() {
  MethodSpec m;
  m.name = "peer_freeze_add", m.ffn = "peer", m.add_pools = true;
  m.about = "freeze-and-add: at each new domain every pool is frozen and a fresh pool added; the rest trains";
  std::vector<MethodSpec> out = {m};
  m.name = "peer_fa_query", m.freeze_query = true, m.about = "+ the query networks frozen";
  out.push_back(m);
  m.name = "peer_fa_bn", m.freeze_bn_stats = true,
  m.about = "+ the query BatchNorm's running statistics frozen (training normalises with them too)";
  out.push_back(m);
  m.name = "peer_fa_only_new", m.freeze_non_expert = true,
  m.about = "+ everything outside the PEER layers frozen: only the new pool trains";
  out.push_back(m);
  m.name = "peer_fa_key_scale", m.match_key_scale = true,
  m.about = "+ the new pool's keys initialised at the RMS of the trained pools' keys";
  out.push_back(m);
  m.name = "peer_fa_oracle", m.oracle = true,
  m.about = "+ oracle routing: each domain's tokens retrieve from its own pool only (an upper bound for routing)";
  out.push_back(m);
  return out;
}

std::vector<MethodSpec> all_methods() {
  std::vector<MethodSpec> out;
  auto add = [&](const std::string& name, const std::string& ffn, const std::string& about) {
    out.push_back(MethodSpec());
    out.back().name = name, out.back().ffn = ffn, out.back().about = about;
    return &out.back();
  };
  add("dense", "dense", "sequential fine-tuning of the dense FFN model");
  add("moe", "moe", "sequential fine-tuning of the MoE model");
  add("peer", "peer", "sequential fine-tuning of the single-pool PEER model");
  add("peer_big", "peer", "sequential fine-tuning of one PEER pool as large as freeze-and-add's pools together")
      ->big_pool = true;
  add("dense_replay", "dense", "dense with experience replay from earlier domains")->replay = true;
  add("peer_replay", "peer", "peer with experience replay from earlier domains")->replay = true;
  for (const MethodSpec& m : ladder()) out.push_back(m);
  MethodSpec* joint = add("joint", "peer", "all domains mixed, with the final architecture of freeze-and-add, every pool trained");
  joint->joint = true;
  return out;
}

}  // namespace

const std::vector<MethodSpec>& method_specs() {
  static const std::vector<MethodSpec> m = all_methods();
  return m;
}

const MethodSpec& method_spec(const std::string& name) {
  for (const MethodSpec& m : method_specs())
    if (m.name == name) return m;
  throw std::logic_error("[lifelong] unknown method '" + name + "'");
}

MethodSpec resolve_method(const std::string& name, toml::table& t, bool rewarm, const std::string& where) {
  std::string base = name;
  if (const toml::node* like = t.get("like")) {
    const auto& known = lifelong_methods();
    if (!like->is_string() || std::find(known.begin(), known.end(), *like->value<std::string>()) == known.end())
      throw InputError(where + ": like: expected the name of a known method (" + known.front() + ", ...)");
    base = *like->value<std::string>();
    t.erase("like");
  }
  MethodSpec m = method_spec(base);
  m.name = name;
  if (base != name) m.like = base, m.about = "as " + base + ", with its own options";
  m.rewarm = rewarm;
  const std::vector<std::pair<std::string, bool MethodSpec::*>> options = {
      {"add_pools", &MethodSpec::add_pools},         {"freeze_query", &MethodSpec::freeze_query},
      {"freeze_bn_stats", &MethodSpec::freeze_bn_stats}, {"freeze_non_expert", &MethodSpec::freeze_non_expert},
      {"match_key_scale", &MethodSpec::match_key_scale}, {"oracle", &MethodSpec::oracle},
      {"replay", &MethodSpec::replay},               {"rewarm", &MethodSpec::rewarm}};
  for (const auto& [key, field] : options) {
    const toml::node* n = t.get(key);
    if (!n) continue;
    if (!n->is_boolean()) throw InputError(where + ": " + key + ": expected true or false");
    m.*field = *n->value<bool>();
    t.erase(key);
  }
  const bool needs_pools = m.freeze_query || m.freeze_bn_stats || m.freeze_non_expert || m.match_key_scale || m.oracle;
  if (needs_pools && !m.add_pools)
    throw InputError(where + ": " + (m.oracle ? "oracle" : "its freezing options") +
                     " needs freeze-and-add pools (add_pools = true): " +
                     (m.oracle ? "the oracle routes each domain to the pool added for it" : "there is nothing to freeze"));
  if (m.add_pools && (m.ffn != "peer" || m.joint || m.big_pool))
    throw InputError(where + ": add_pools needs a sequential PEER method (peer or the peer_fa_* ladder)");
  if (m.replay && m.joint) throw InputError(where + ": replay: joint already trains on every domain");
  return m;
}

const std::vector<std::string>& lifelong_methods() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const MethodSpec& m : method_specs()) n.push_back(m.name);
    return n;
  }();
  return names;
}

}  // namespace peer
