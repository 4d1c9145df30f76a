// Plots of a lifelong stream, rendered by gnuplot (PNG): the loss on each domain over the stream
// (one panel per domain, one line per method) and, for methods with several expert pools, a
// pool-by-domain heatmap of retrieval shares. Data and script stay in OUT/plots.
#pragma once

#include <string>
#include <vector>

#include "experiments/lifelong/record.h"
#include "experiments/lifelong/stream.h"

namespace peer {

// "pool 2", or for peer_freeze_add, which adds pool p + 1 for domain p + 1, "pool 2 (learned)".
std::string pool_label(const MethodRecord& r, const StreamData& data, size_t pool);

// Returns the PNG file names written into out_dir; none when gnuplot is missing or fails.
std::vector<std::string> write_lifelong_plots(const StreamData& data, const std::vector<MethodRecord>& done,
                                              const std::string& out_dir);

}  // namespace peer
