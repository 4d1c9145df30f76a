// `peer run` for kind = "lifelong": every method (methods.h), at every seed, trains through the
// domain stream (stream.h) into OUT/methods/NAME/ (method_run.h), after a pretrain phase shared
// by the methods of one config when the stream has one (pretrain.h); after each phase every
// domain's held-out loss is measured. OUT then gets results.csv, report.md and plots (report.h).
//
// Learning rate: by default each phase runs its own warmup + cosine schedule over its steps
// (re-warming at every domain, as in continual pre-training); rewarm = false runs one schedule
// over the stream. AdamW moments carry across phases. joint uses the same schedule over its
// mixed phases, so only the order of the data differs.
//
// Resumable at any step: a method folder keeps the checkpoint of its last finished phase (or of
// an interrupt) and state.json with the losses measured so far; running the same command again
// skips finished methods and continues the others exactly. Ctrl-C writes a checkpoint, exit 130.
#pragma once

#include <string>

#include "experiments/jobs/experiment.h"

namespace peer {

// Checks the whole stream (text, sizes, folders on disk) before anything trains: bad input
// throws InputError. Returns the exit code: 0, 1 (a method failed, the others ran), 130.
int run_lifelong(const Experiment& e, const std::string& out_dir, bool plan_only = false);

}  // namespace peer
