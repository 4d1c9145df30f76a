// Run checkpoints: model parameters, AdamW moments and step, the resolved config and the
// tokenizer's vocabulary, in one safetensors file (DESIGN.md 5). Loading checks every tensor's
// checksum and shape against the model being restored.
#pragma once

#include <string>

#include "core/data/tokenizer.h"
#include "core/nn/transformer.h"
#include "core/optim/adamw.h"
#include "experiments/run/config.h"
#include "experiments/run/model_factory.h"

namespace peer {

struct CheckpointInfo {
  Config config;
  Tokenizer tokenizer;
  int64_t step = 0;
  std::string pools;   // JSON: PEER layer name -> [{"n1", "n2", "frozen"}, ...]
  std::string frozen;  // JSON: names of frozen parameters
};

// Gives a freshly built model the structure a checkpoint recorded: the extra PEER expert pools
// added after it was built from its config, and every frozen flag. Call before creating the
// optimizer (frozen parameters get no state) and before load_checkpoint.
void restore_structure(LanguageModel& model, const CheckpointInfo& info);

// Every PEER layer of the model (FFN slots that are PeerLayers), with its name.
std::vector<std::pair<std::string, PeerLayer*>> peer_layers(LanguageModel& model);

void save_checkpoint(const std::string& path, LanguageModel& model, AdamW* opt, const Config& config,
                     const Tokenizer& tok, int64_t step);

// Config, vocabulary and step from the checkpoint's header. Throws InputError naming the file.
CheckpointInfo read_checkpoint_info(const std::string& path);
// Restores parameters (and optimizer state when opt is given) after verifying every checksum and
// that every shape matches the model. Throws InputError naming the file and the tensor.
void load_checkpoint(const std::string& path, LanguageModel& model, AdamW* opt);

}  // namespace peer

namespace peer {

// A trained model restored from a run folder (DIR/checkpoint.safetensors), for eval and sample.
struct TrainedModel {
  CheckpointInfo info;
  std::unique_ptr<LanguageModel> model;
};
TrainedModel load_trained_model(const std::string& run_dir);

}  // namespace peer
