// The methods a lifelong stream compares (experiments/README.md), in report order: the sequential
// baselines, the controls, then the freeze-and-add ladder (each rung adds one thing to the one
// before) and joint training. A method is its FFN plus what it does at each new domain.
#pragma once

#include <string>
#include <vector>

#include <toml++/toml.h>

namespace peer {

struct MethodSpec {
  std::string name;
  std::string ffn;                 // dense | moe | peer (joint's can be overridden)
  // Freeze-and-add: at each new domain (every phase after the first, and the first after a
  // pretrain phase) every pool is frozen and a fresh one added to every PEER layer.
  bool add_pools = false;
  bool freeze_query = false;       // ... and the query networks (and their BatchNorm's scale, shift)
  bool freeze_bn_stats = false;    // ... and the BatchNorm running statistics (used in training too)
  bool freeze_non_expert = false;  // ... and everything outside the PEER layers: only the new pool trains
  bool match_key_scale = false;    // the new pool's keys start at the RMS of the trained ones
  bool oracle = false;             // domain i's tokens retrieve from domain i's pool alone
  bool big_pool = false;           // one pool of as many experts as freeze-and-add ends with
  bool replay = false;             // replay_fraction of each batch from earlier domains' text
  bool joint = false;              // all domains mixed; the final freeze-and-add architecture
  bool rewarm = true;              // a warmup + cosine schedule per phase, or one over the stream
  std::string about;               // one line for the report
  std::string like;                // the known method a named copy (like = "...") starts from
};

// Every method, in report order.
const std::vector<MethodSpec>& method_specs();
// The spec of a known method name (parsing refuses unknown ones).
const MethodSpec& method_spec(const std::string& name);

// The method `name` (a known one, or any name with like = "KNOWN" in its table: a copy of that
// method) with the options its [method.NAME] table `t` sets: the plain keys add_pools,
// freeze_query, freeze_bn_stats, freeze_non_expert, match_key_scale, oracle, replay and rewarm
// (default: the experiment's), which are taken out of t (what stays are config overrides).
// InputError starting with `where` on a bad value or an option that needs what the method lacks.
MethodSpec resolve_method(const std::string& name, toml::table& t, bool rewarm, const std::string& where);

}  // namespace peer
