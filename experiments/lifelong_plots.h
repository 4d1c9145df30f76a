// Plots of a lifelong stream, rendered by gnuplot (PNG): the loss on each domain over the stream
// (one panel per domain, one line per method) and, for methods with several expert pools, a
// pool-by-domain heatmap of retrieval shares. Data and script stay in OUT/plots.
#pragma once

#include <string>
#include <vector>

#include "experiments/lifelong_record.h"
#include "experiments/lifelong_stream.h"

namespace peer {

// Returns the PNG file names written into out_dir; none when gnuplot is missing or fails.
std::vector<std::string> write_lifelong_plots(const StreamData& data, const std::vector<MethodRecord>& done,
                                              const std::string& out_dir);

}  // namespace peer
