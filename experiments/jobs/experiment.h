// Experiment files for `peer run` (experiments/README.md): an [experiment] table, a base run config (a
// [base] table with the sections of a train config, or base = "file.toml" relative to the
// experiment file), then
//   kind = "sweep":    an optional budget, optional seeds and named [variants.NAME] tables of
//                      dotted-key overrides (a sweep runs every variant once per seed);
//   kind = "lifelong": methods, tokens_per_phase, the pool freeze-and-add uses, [[domains]] (name
//                      and genres or files; default the four Brown genre groups) and optional
//                      [method.NAME] override tables; seeds holds at most one seed for now.
// Parsing resolves and validates every job's config (a sweep variant or a lifelong method), so
// a bad file is an InputError (exit 2) before anything trains.
#pragma once

#include <string>
#include <vector>

#include "experiments/lifelong/methods.h"
#include "experiments/run/config.h"
#include "peer/expert_pool.h"

namespace peer {

// A budget every variant trains for; None leaves each variant's own train.steps / train.tokens.
struct Budget {
  enum class Kind { None, Steps, Tokens, Flops };
  Kind kind = Kind::None;
  double value = 0.0;  // steps, tokens or training FLOPs
  std::string describe() const;  // e.g. "flops = 2e+13 (iso-FLOP)"
};

// One entry of an experiment: a sweep variant (one job per seed) or a lifelong method, trained
// into its own folder.
struct Job {
  std::string name;               // also its folder name: [A-Za-z0-9._-]+
  std::vector<std::string> sets;  // "key=TOML literal", in file order
  Config config;                  // base + sets, validated; the budget is not applied yet
};

// One domain of a lifelong stream: its text is the base data config with these genres or files.
struct Domain {
  std::string name;
  DataConfig data;
};

struct LifelongSpec {
  std::vector<Domain> domains;  // in stream order
  int64_t tokens_per_phase = 0;
  int64_t eval_tokens = 0;       // held-out tokens per domain scored after each phase; 0 = all
  PoolShape pool;                // what the freeze-and-add methods add at each new domain
  std::vector<int64_t> seeds;    // every method runs once per seed (train.seed); never empty
  Domain pretrain;               // trained before the stream when pretrain_tokens > 0
  int64_t pretrain_tokens = 0;
  bool rewarm = true;            // a warmup + cosine schedule per phase, or one over the stream
  double replay_fraction = 0.0;  // of each batch, from earlier domains (the *_replay methods)
  int64_t replay_tokens = 0;     // the replay memory: training text of earlier domains
  std::vector<MethodSpec> methods;  // as e.jobs, with their options
};

struct Experiment {
  std::string path;  // the experiment file
  std::string kind;  // "sweep" | "lifelong"
  std::string description;
  Budget budget;
  std::vector<int64_t> seeds;  // [experiment] seeds: every job runs once per seed (train.seed = S);
                               // empty = once, with its own train.seed
  Config base;
  std::string base_toml;  // the base as written: variants override it and then resolve, so a value
                          // derived from another (model.d_ff from model.n_embd) follows the override
  std::vector<Job> jobs;  // sweep: one per variant, in file order; lifelong: one per method, in `methods` order
  LifelongSpec lifelong;
};

// The methods a lifelong stream compares, and the FFN each trains (joint's can be overridden).
const std::vector<std::string>& lifelong_methods();

// The seeds job j runs with: e.seeds, or its own train.seed.
std::vector<int64_t> job_seeds(const Experiment& e, const Job& j);

Experiment load_experiment(const std::string& path);
// origin names the text in messages; a relative `base = "file"` is looked up in base_dir.
Experiment parse_experiment(const std::string& text, const std::string& origin, const std::string& base_dir);

// Sets train.steps from the budget (train.tokens = 0): steps as given, ceil(tokens / tokens per
// step), or floor(flops / (training FLOPs per token * tokens per step)) — the last needs the
// vocabulary size. Throws InputError starting with `who` when that leaves fewer than one step.
// The learning-rate schedule (warmup + cosine) spans train.steps, so under any budget every
// variant runs its own whole schedule.
void apply_budget(Config& c, const Budget& b, int64_t vocab_size, const std::string& who);

}  // namespace peer
