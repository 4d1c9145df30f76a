// Freeze-and-add for PEER expert pools (DESIGN.md 3): at a domain boundary every PEER layer
// gets a fresh pool, and what was trained before can be frozen.
#pragma once

#include <memory>

#include "core/nn/transformer.h"
#include "core/optim/adamw.h"
#include "peer/expert_pool.h"

namespace peer {

struct GrowOptions {
  PoolShape shape;                 // the new pool's n1 x n2
  bool freeze_existing = true;     // freeze every pool already there
  bool freeze_query = false;       // also freeze the query networks and their BatchNorm's scale and
                                   // shift (its running statistics are buffers and keep updating)
  bool freeze_non_expert = false;  // also freeze everything outside the PEER layers
};

// Adds one pool to every PEER layer and applies the freezing. Returns the number of layers
// grown. Build a new optimizer afterwards (AdamW::adopt_state keeps the surviving moments).
int64_t grow_pools(LanguageModel& model, const GrowOptions& o);

// grow_pools, then an optimizer over the grown model that keeps old's step count and the
// moments of every parameter still trained. Throws InputError (naming `who`) when the model has
// no PEER layer.
std::unique_ptr<AdamW> grow_pools_keep_optimizer(LanguageModel& model, const GrowOptions& o, AdamW& old,
                                                 const AdamWOptions& opt, const std::string& who);

// Parses "N" (a perfect square) or "N1xN2"; throws InputError naming the flag.
PoolShape parse_pool_size(const std::string& text, const std::string& flag);

}  // namespace peer
