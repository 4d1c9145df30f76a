#include "experiments/run/metrics_log.h"

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/error.h"
#include "core/io/atomic_file.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace peer {

std::string metrics_path(const std::string& dir) { return (fs::path(dir) / "metrics.jsonl").string(); }

void append_metrics(const std::string& dir, const json& row) { append_file(metrics_path(dir), row.dump() + "\n"); }

KeptMetrics truncate_metrics(const std::string& path, int64_t step) {
  // A device or a pipe there (/dev/full, /dev/zero) would be read forever.
  if (fs::exists(path) && !fs::is_regular_file(path)) throw InputError(path + ": not a regular file");
  std::ifstream in(path);
  std::string line, kept;
  KeptMetrics m;
  while (std::getline(in, line)) {
    try {
      json row = json::parse(line);
      if (row.at("step").get<int64_t>() > step) continue;
      kept += line + "\n";
      if (row.at("split") == "val") m.best_val_loss = std::min(m.best_val_loss, row.at("loss").get<double>());
      if (row.contains("elapsed_s")) m.elapsed_s = row.at("elapsed_s").get<double>();
    } catch (const json::exception&) {
      // A torn last line from a killed run: dropped.
    }
  }
  write_file_atomic(path, kept);
  return m;
}

}  // namespace peer
