// A sweep's ETA from measured cost: seconds per training FLOP of its finished jobs. A remaining
// job is timed by the finished seeds of its own variant, else by finished jobs of its FFN kind
// (dense, moe, peer, ... differ several-fold in seconds per FLOP, and MoE or PEER variants of
// different granularity differ too). A job with neither is counted as untimed rather than
// guessed from another kind's rate (a dense rate once gave "ETA 7s" before a 51 s PEER job).
#pragma once

#include <string>
#include <vector>

namespace peer {

struct JobCost {
  std::string variant, kind;  // kind: model.ffn
  double flops = 0;           // training FLOPs: done (finished) or still to do (pending)
  double seconds = 0;         // wall time; finished jobs only
};

struct SweepEta {
  double seconds = 0;                      // of the timed pending jobs
  int untimed = 0;                         // pending jobs with no finished job of their variant or kind
  std::vector<std::string> untimed_kinds;  // their kinds, first-seen order
  bool measured = false;                   // some finished job has a cost to go by
  // "~3m07s", "~3m07s + 2 jobs not timed yet (peer)" or "known after the first job"
  std::string describe() const;
};

SweepEta estimate_eta(const std::vector<JobCost>& finished, const std::vector<JobCost>& pending);

}  // namespace peer
