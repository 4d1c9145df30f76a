// A run folder (experiments/README.md): config.toml, metrics.jsonl (metrics_log.h), checkpoint.safetensors,
// summary.json and train.lock; and the one way a run's model and optimizer come back from its
// checkpoint.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "core/nn/transformer.h"
#include "core/optim/adamw.h"
#include "experiments/run/checkpoint.h"
#include "experiments/run/config.h"

namespace peer {

std::string checkpoint_path(const std::string& dir);
// DIR's checkpoint header, or nothing when DIR has no checkpoint.
std::optional<CheckpointInfo> find_checkpoint(const std::string& dir);

// Held by the process that trains in a folder: an exclusive flock on DIR/train.lock (created with
// DIR), which holds the holder's pid. The kernel drops it when the process ends, however it ends;
// the file stays behind, harmless. InputError naming DIR and the holder when another process
// holds it.
constexpr const char* kRunLockFile = "train.lock";
class RunLock {
 public:
  explicit RunLock(const std::string& dir);
  ~RunLock();
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};
// Whether DIR holds anything besides a lock file.
bool holds_run_files(const std::string& dir);

// Creates DIR and writes the resolved config, paths absolute (with_absolute_paths), to
// DIR/config.toml.
void write_run_config(const std::string& dir, const Config& c);
// A run folder of an experiment must hold the config the experiment now resolves to (its
// config.toml), or its results would silently describe something else: InputError otherwise,
// naming the first differing line.
void require_same_config(const std::string& dir, const Config& want, const std::string& who);

struct OpenedRun {
  CheckpointInfo info;  // what the checkpoint recorded; step 0 for a fresh model
  std::unique_ptr<LanguageModel> model;
  std::unique_ptr<AdamW> opt;  // null unless asked for
};

// Builds `config`'s model over vocab_size tokens. With a checkpoint (of DIR), gives it the
// expert pools and frozen flags recorded there first (the optimizer keeps no state for frozen
// parameters), then creates the optimizer (with_optimizer) and loads parameters and moments;
// parameters holding a NaN or an infinity (a checkpoint of an older binary) are refused
// (NonFiniteError, exit 1).
OpenedRun open_run(const std::string& dir, const Config& config, int64_t vocab_size,
                   const std::optional<CheckpointInfo>& checkpoint, bool with_optimizer);
// The run in DIR as its checkpoint recorded it (its own config and vocabulary), for eval,
// sample and `peer pool add`. InputError naming the file when there is no valid checkpoint.
OpenedRun open_trained_run(const std::string& dir, bool with_optimizer);

}  // namespace peer
