// `peer run` for kind = "sweep": every (variant, seed) job trains through the same Trainer (same
// data and budget) into OUT/variants/NAME/seed-S/, then OUT gets results.csv, report.md and plots.
//
// Resumable: a job with summary.json is done and skipped; one with a checkpoint continues from
// it; a job folder without either (killed before its first checkpoint) starts over. A job folder
// whose config.toml differs from what the experiment now resolves to is an InputError, so
// results of different configs never mix. Ctrl-C stops the sweep (exit 130) after the running
// job's checkpoint; running the same command again continues it. Shards and claims: queue.h.
#pragma once

#include <string>

#include "experiments/jobs/experiment.h"
#include "experiments/jobs/queue.h"

namespace peer {

// Resolves every job (vocabulary, budget, accounting, state on disk) before anything trains:
// bad input throws InputError. mode.plan prints each variant's steps, parameters, granularity,
// FLOP split per component and the state of its jobs, and trains nothing; mode.report rewrites
// the report from the finished jobs. Returns the exit code: 0, 1 (a job failed, the others
// ran), 130 (interrupted).
int run_sweep(const Experiment& e, const std::string& out_dir, const RunMode& mode = {});

}  // namespace peer
