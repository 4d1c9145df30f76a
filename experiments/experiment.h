// Experiment files for `peer run` (DESIGN.md 4b): an [experiment] table (kind, optional budget),
// a base run config (a [base] table with the sections of a train config, or base = "file.toml"
// relative to the experiment file) and named [variants.NAME] tables of dotted-key overrides.
// Parsing resolves and validates every variant's config, so a bad file is an InputError (exit 2)
// before anything trains.
#pragma once

#include <string>
#include <vector>

#include "experiments/config.h"

namespace peer {

// A budget every variant trains for; None leaves each variant's own train.steps / train.tokens.
struct Budget {
  enum class Kind { None, Steps, Tokens, Flops };
  Kind kind = Kind::None;
  double value = 0.0;  // steps, tokens or training FLOPs
  std::string describe() const;  // e.g. "flops = 2e+13 (iso-FLOP)"
};

struct Variant {
  std::string name;               // also its folder name: [A-Za-z0-9._-]+
  std::vector<std::string> sets;  // "key=TOML literal", in file order
  Config config;                  // base + sets, validated; the budget is not applied yet
};

struct Experiment {
  std::string path;  // the experiment file
  std::string kind;  // "sweep"
  std::string description;
  Budget budget;
  Config base;
  std::vector<Variant> variants;  // in file order
};

Experiment load_experiment(const std::string& path);
// origin names the text in messages; a relative `base = "file"` is looked up in base_dir.
Experiment parse_experiment(const std::string& text, const std::string& origin, const std::string& base_dir);

// Sets train.steps from the budget (train.tokens = 0): steps as given, ceil(tokens / tokens per
// step), or floor(flops / (training FLOPs per token * tokens per step)) — the last needs the
// vocabulary size. Throws InputError starting with `who` when that leaves fewer than one step.
void apply_budget(Config& c, const Budget& b, int64_t vocab_size, const std::string& who);

}  // namespace peer
