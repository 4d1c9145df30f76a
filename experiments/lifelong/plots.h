// Plots of a lifelong stream, rendered by gnuplot (PNG): the loss on each domain over the stream
// (one panel per domain, one line per method: the mean over seeds, in a band from the lowest to
// the highest seed) and, for methods with several expert pools, a pool-by-domain heatmap of
// retrieval shares (mean over seeds). Data and script stay in OUT/plots.
#pragma once

#include <string>
#include <vector>

#include "experiments/lifelong/aggregate.h"
#include "experiments/lifelong/stream.h"

namespace peer {

// "pool 2", or for freeze-and-add methods the domain it was added for: "pool 2 (learned)",
// "pool 1 (pretrain)".
std::string pool_label(const Experiment& e, const StreamData& data, const MethodSpec& m, size_t pool);

// Returns the PNG file names written into out_dir; none when gnuplot is missing or fails.
std::vector<std::string> write_lifelong_plots(const Experiment& e, const StreamData& data,
                                              const std::vector<MethodResults>& done, const std::string& out_dir);

}  // namespace peer
