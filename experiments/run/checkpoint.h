// Run checkpoints: model parameters, AdamW moments and step, the resolved config and the
// tokenizer's vocabulary, in one safetensors file (experiments/README.md). Loading checks every tensor's
// checksum and shape against the model being restored.
#pragma once

#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/data/tokenizer.h"
#include "core/nn/transformer.h"
#include "core/io/safetensors.h"
#include "core/optim/adamw.h"
#include "experiments/run/config.h"
#include "peer/expert_pool.h"

namespace peer {

struct CheckpointInfo {
  Config config;
  Tokenizer tokenizer;
  int64_t step = 0;
  std::map<std::string, std::vector<PoolShape>> pools;  // PEER layer name -> its pools, first one included
  std::set<std::string> frozen;                         // names of frozen parameters
};

// A model or optimizer state that holds a NaN or an infinity (a diverged run): never written as a
// checkpoint, evaluated or sampled. A run failure (exit 1).
class NonFiniteError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Writes the checkpoint of `step` atomically. A state holding a NaN or an infinity is refused
// first (NonFiniteError naming the step and the tensor): the previous checkpoint stays.
void save_checkpoint(const std::string& path, LanguageModel& model, AdamW* opt, const Config& config,
                     const Tokenizer& tok, int64_t step);
// NonFiniteError naming `origin` and the first parameter holding a NaN or an infinity.
void require_finite_parameters(LanguageModel& model, const std::string& origin);

// Config, vocabulary, step and pools from the checkpoint's header. Throws InputError naming the
// file, also for pools past the limits (config.h) before any is allocated.
CheckpointInfo read_checkpoint_info(const std::string& path);
// The same from the header's metadata (`path` names the file in messages).
CheckpointInfo checkpoint_info(const Metadata& meta, const std::string& path);
// Restores parameters (and optimizer state when opt is given) after verifying every checksum and
// that every shape matches the model. Throws InputError naming the file and the tensor.
void load_checkpoint(const std::string& path, LanguageModel& model, AdamW* opt);

}  // namespace peer
