// A run folder's metrics.jsonl (experiments/README.md): one JSON object a line, appended as training goes.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace peer {

std::string metrics_path(const std::string& dir);
// Throws naming the file when the row cannot be written (a full disk: the run stops, not the log).
void append_metrics(const std::string& dir, const nlohmann::json& row);

struct KeptMetrics {
  double best_val_loss = 1e300;  // of the kept "split":"val" rows
  double elapsed_s = 0.0;        // of the last kept row that has it
};
// A resumed run rewrites what came after its checkpoint: keeps only metrics lines at or before
// `step` (a torn last line is dropped).
KeptMetrics truncate_metrics(const std::string& path, int64_t step);

}  // namespace peer
