// What a lifelong stream trains once and shares between methods, in OUT/shared/: one folder per
// (model config, seed, text), named KIND-FFN-sSEED-CRC where CRC is the CRC-32 of everything that
// decides its result (the resolved config, the text it reads, the token budget), so every method
// with the same architecture and training settings reuses it, in this run and any later run
// into the same OUT:
//  - pretrain: a fresh model trained on the [pretrain] text for ceil(pretrain_tokens / (B*T))
//    steps (its own warmup + cosine schedule, B lanes, each token once); its checkpoint
//    (weights only) is where the methods start. done.json marks it finished.
//  - scratch: for each domain, a fresh model trained on that domain alone for one phase (the
//    tokens a method reads there) and its held-out loss: the reference of forward transfer.
//    scratch.json keeps the losses of the domains done so far.
// Interrupted work restarts from its beginning (pretrain) or from the interrupted domain
// (scratch): both are deterministic, so the results do not change.
#pragma once

#include <string>
#include <vector>

#include "experiments/jobs/experiment.h"
#include "experiments/lifelong/stream.h"

namespace peer {

// OUT/shared/pretrain-... and OUT/shared/scratch-... for a method with config c.
std::string pretrain_dir(const std::string& out_dir, const StreamData& d, const LifelongSpec& s, const Config& c);
std::string scratch_dir(const std::string& out_dir, const StreamData& d, const LifelongSpec& s, const Config& c);

// True when dir holds a finished pretrain checkpoint.
bool pretrain_done(const std::string& dir);

// Trains the pretrain model into dir unless pretrain_done(dir). Returns kExitOk, kExitFailed (a
// non-finite loss, described in `failure`) or kExitInterrupted.
int ensure_pretrain(const StreamData& d, const LifelongSpec& s, const Config& c, const std::string& dir,
                    std::string& failure);

// The held-out loss per domain of models trained from scratch on that domain alone (trains what
// is missing into dir). Returns kExitOk, kExitFailed (see `failure`) or kExitInterrupted.
int ensure_scratch(const StreamData& d, const LifelongSpec& s, const Config& c, const std::string& dir,
                   std::vector<double>& loss, std::string& failure);

// Steps of the pretrain phase for config c.
int64_t pretrain_steps(const LifelongSpec& s, const Config& c);

}  // namespace peer
