// `peer run` for kind = "sweep": every variant trains through the same Trainer (same data, seed
// and budget) into OUT/variants/NAME/, then OUT gets results.csv, report.md and plots.
//
// Resumable: a variant with summary.json is done and skipped; one with a checkpoint continues
// from it; a variant folder without either (killed before its first checkpoint) starts over.
// A variant folder whose config.toml differs from what the experiment now resolves to is an
// InputError, so results of different configs never mix. Ctrl-C stops the sweep (exit 130)
// after the running variant's checkpoint; running the same command again continues it.
#pragma once

#include <string>

#include "experiments/jobs/experiment.h"

namespace peer {

// Resolves every variant (vocabulary, budget, accounting, state on disk) before anything
// trains: bad input throws InputError. plan_only prints the resolved variants (steps, parameters,
// FLOPs, state on disk) and trains nothing. Returns the exit code: 0, 1 (a variant failed, the
// others ran), 130 (interrupted).
int run_sweep(const Experiment& e, const std::string& out_dir, bool plan_only = false);

}  // namespace peer
