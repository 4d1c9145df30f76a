// PEER expert pools of a model (experiments/README.md): finding the PEER layers, freeze-and-add (at a
// domain boundary every PEER layer gets a fresh pool, and what was trained before can be
// frozen), and giving a rebuilt model the pools and frozen flags its checkpoint recorded.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/nn/transformer.h"
#include "core/optim/adamw.h"
#include "experiments/run/checkpoint.h"
#include "peer/expert_pool.h"
#include "peer/peer_layer.h"

namespace peer {

// Every PEER layer of the model (FFN slots that are PeerLayers), with its name.
std::vector<std::pair<std::string, PeerLayer*>> peer_layers(LanguageModel& model);

// Gives a freshly built model the structure a checkpoint recorded: the extra PEER expert pools
// added after it was built from its config, and every frozen flag. Call before creating the
// optimizer (frozen parameters get no state) and before load_checkpoint.
void restore_structure(LanguageModel& model, const CheckpointInfo& info);

struct GrowOptions {
  PoolShape shape;                 // the new pool's n1 x n2
  bool freeze_existing = true;     // freeze every pool already there
  bool freeze_query = false;       // also freeze the query networks and their BatchNorm's scale and
                                   // shift (its running statistics are buffers and keep updating)
  bool freeze_non_expert = false;  // also freeze everything outside the PEER layers
  bool match_key_scale = false;    // rescale the new pool's keys to the RMS of the keys already
                                   // there (trained keys grow; fresh ones would lose every top-k)
  std::string origin = "the new pool";  // names the pool's size in messages (a flag, a key)
};

// Adds one pool to every PEER layer and applies the freezing. Returns the number of layers
// grown. Throws InputError naming o.origin, before allocating, when a layer would exceed the
// expert limits (config.h). Build a new optimizer afterwards (AdamW::adopt_state keeps the surviving moments).
int64_t grow_pools(LanguageModel& model, const GrowOptions& o);

// grow_pools, then an optimizer over the grown model that keeps old's step count and the
// moments of every parameter still trained. Throws InputError (naming `who`) when the model has
// no PEER layer.
std::unique_ptr<AdamW> grow_pools_keep_optimizer(LanguageModel& model, const GrowOptions& o, AdamW& old,
                                                 const AdamWOptions& opt, const std::string& who);

// Parses "N" (a perfect square) or "N1xN2"; throws InputError naming the flag.
PoolShape parse_pool_size(const std::string& text, const std::string& flag);

}  // namespace peer
