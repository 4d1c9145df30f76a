// The op table's backend and perf modes (op_table.h); gradient mode is part of peer_tests.
//   op_table backend        each row's CUDA run against its CPU run on fresh random inputs.
//                           Exits 0 when every row ran and matched, 1 on a mismatch, and 77
//                           (CTest's SKIP_RETURN_CODE) when no row could run.
//   op_table perf [filter]  times forward + backward of each perf row whose name contains
//                           filter. Results are checked by the other modes at the table's
//                           small shapes, not here (a brute-force oracle at these sizes would
//                           take minutes).
#include <chrono>
#include <cstdio>
#include <string>

#include "core/cuda/device.h"
#include "tests/op_table.h"

using namespace peer;
using namespace peer::optable;

namespace {

int backend() {
  std::printf("op table, backend mode (CUDA against CPU): %s\n", cuda::backend_state().c_str());
  const std::vector<Case> rows = all_cases();
  // No op has a CUDA implementation yet: a row gets a CUDA run when its op gets a kernel.
  for (const Case& c : rows) std::printf("  %-90s skipped: no CUDA implementation\n", c.name.c_str());
  std::printf("backend mode: %zu of %zu rows skipped\n", rows.size(), rows.size());
  return 77;
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
