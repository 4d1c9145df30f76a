// `peer run` for kind = "lifelong": every method trains through the domain stream
// (lifelong/stream.h) into OUT/methods/NAME/; after each phase every domain's held-out loss is
// measured; peer_freeze_add freezes every pool and adds a fresh one at each new domain
// (run/pools.h). OUT then gets results.csv, report.md and plots (lifelong/report.h).
//
// Learning rate: each phase runs its own warmup + cosine schedule over its steps (re-warming at
// every domain, as in continual pre-training); AdamW moments carry across phases. joint uses the
// same per-phase schedule over its mixed phases, so only the order of the data differs.
//
// Resumable at any step: a method folder keeps the checkpoint of its last finished phase (or of
// an interrupt) and state.json with the losses measured so far; running the same command again
// skips finished methods and continues the others exactly. Ctrl-C writes a checkpoint, exit 130.
#pragma once

#include <string>

#include "experiments/jobs/experiment.h"
#include "experiments/jobs/queue.h"

namespace peer {

// Checks the whole stream (text, sizes, folders on disk) before anything trains: bad input
// throws InputError. mode: --plan, --report, --shard (queue.h). Returns the exit code: 0, 1 (a
// method failed, the others ran), 130.
int run_lifelong(const Experiment& e, const std::string& out_dir, const RunMode& mode = {});

}  // namespace peer
