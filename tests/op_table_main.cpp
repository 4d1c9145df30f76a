// The op table's backend and perf modes (op_table.h); gradient mode is part of peer_tests.
//   op_table backend        each row's CUDA run against its CPU run on fresh random inputs,
//                           every mismatch reported (row, what, shape, max error), a row whose
//                           op has no CUDA implementation skipped with the error saying so.
//                           Exits 0 when every row that ran matched (and one did), 1 on a
//                           mismatch, and 77 (CTest's SKIP_RETURN_CODE) without a CUDA device or
//                           when no row could run.
//   op_table perf [filter]  times forward + backward of each perf row whose name contains
//                           filter. Results are checked by the other modes at the table's
//                           small shapes, not here (a brute-force oracle at these sizes would
//                           take minutes).
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "core/cuda/device.h"
#include "tests/op_table.h"

using namespace peer;
using namespace peer::optable;

namespace {

bool says_no_cuda_implementation(const std::exception& e) {
  return std::string(e.what()).find("has no CUDA implementation") != std::string::npos;
}

// Each line of text with prefix in front.
std::string prefix_lines(const std::string& prefix, const std::string& text) {
  std::string out;
  for (size_t at = 0, end; at < text.size(); at = end + 1) {
    end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    out += prefix + text.substr(at, end - at) + "\n";
  }
  return out;
}

int backend() {
  std::printf("op table, backend mode (CUDA against CPU): %s\n", cuda::backend_state().c_str());
  if (cuda::device_count() == 0) {
    std::printf("skipped: no CUDA device\n");
    return 77;
  }
  const std::vector<Case> rows = all_cases();
  int matched = 0, differ = 0, skipped = 0;
  for (const Case& c : rows) {
    std::string diff, skip;
    for (uint64_t seed : c.seeds) {
      try {
        diff += prefix_lines(cat("    seed ", seed, " "),
                             compare_on_device(c, seed, Device::CUDA));
      } catch (const std::exception& e) {
        if (!says_no_cuda_implementation(e)) {
          diff += cat("    seed ", seed, " threw: ", e.what(), "\n");
          continue;
        }
        skip = e.what();
        break;
      }
    }
    if (diff.empty() && !skip.empty()) {
      ++skipped;
      std::printf("  %-90s skipped: %s\n", c.name.c_str(), skip.c_str());
    } else if (diff.empty()) {
      ++matched;
      std::printf("  %-90s ok\n", c.name.c_str());
    } else {
      ++differ;
      std::printf("  %-90s MISMATCH\n%s", c.name.c_str(), diff.c_str());
    }
    std::fflush(stdout);
  }
  std::printf("backend mode: %d rows matched, %d differ, %d skipped, of %zu\n", matched, differ, skipped, rows.size());
  if (differ > 0) return 1;
  return matched > 0 ? 0 : 77;
}

int perf(const std::string& filter) {
  std::printf("%-90s %8s %12s %14s\n", "row", "runs", "ms/run", "items/s");
  for (const Case& c : all_perf_cases()) {
    if (c.name.find(filter) == std::string::npos) continue;
    std::unique_ptr<Op> op;
    if (c.grad) op = c.grad(c.seeds[0]);
    else op = c.exact(c.seeds[0]);
    op->run();  // warm-up: first-touch allocations, caches
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    double seconds = 0.0;
    int runs = 0;
    while (runs < 3 || seconds < 0.5) {
      op->run();
      ++runs;
      seconds = std::chrono::duration<double>(clock::now() - start).count();
    }
    std::printf("%-90s %8d %12.3f %14.4g\n", c.name.c_str(), runs, 1e3 * seconds / runs, double(c.items) * runs / seconds);
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "backend" && argc == 2) return backend();
  if (mode == "perf" && argc <= 3) return perf(argc == 3 ? argv[2] : "");
  std::fprintf(stderr, "usage: op_table backend | op_table perf [name filter]\n");
  return 2;
}
