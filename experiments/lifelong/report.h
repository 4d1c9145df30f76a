// The outputs of a lifelong stream (experiments/README.md) in OUT:
//   results.csv     one row per method: final loss, forgetting, transfer, parameters, time;
//   loss_matrix.csv every measured loss: method, phase (0 = before training), domain;
//   pool_usage.csv  share of PEER retrievals per pool on each domain's held-out text, per phase;
//   report.md       the setup, the summary table, a comparison of peer_freeze_add with dense and
//                   peer in words and numbers, every loss matrix and the final pool usage;
//   plots           loss on each domain over the stream per method, pool-by-domain heatmaps.
#pragma once

#include <string>
#include <vector>

#include "experiments/jobs/experiment.h"
#include "experiments/lifelong/record.h"
#include "experiments/lifelong/stream.h"

namespace peer {

void write_lifelong_report(const Experiment& e, const StreamData& data, const std::vector<MethodRecord>& records,
                           const std::string& out_dir);

}  // namespace peer
