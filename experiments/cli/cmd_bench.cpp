// `peer bench retrieval`: product-key top-k against exact brute force over all N experts.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/cuda/device.h"
#include "core/error.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "experiments/cli/args.h"
#include "experiments/cli/commands.h"
#include "experiments/run/exit_code.h"
#include "peer/product_keys.h"

namespace peer {

namespace {
const char* kHelp = R"(usage: peer bench retrieval [--experts N] [--heads H] [--topk K] [--key-dim D] [--queries Q]
                           [--n1 A --n2 B] [--device cpu|cuda] [--check] [--threads T]
                           [--brute-rows R] [--reps N] [--seed S]

Times exact product-key top-k retrieval for Q tokens x H heads query rows over N experts
(N = n1 * n2, n1 = n2 = sqrt(N) unless given), against brute force over all N scores on the first
R rows (default 256; its rate is per row, so the speed-up is rate against rate). --check verifies
that both return the same indices and scores on those rows (exit 1 if not). Defaults: N 2^20,
H 8, K 16, D 128, Q 4096, threads 2, reps 5. The last line is JSON. --device cuda exits 2: retrieval
has no CUDA implementation yet.
)";

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void fill(std::vector<float>& v, uint64_t seed, uint64_t stream, float std) {
  Philox rng(seed, stream);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < int64_t(v.size()); ++i) v[i] = std * rng.normal(uint64_t(i));
}
}  // namespace

int cmd_bench(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2,
                      {"experts", "heads", "topk", "key-dim", "queries", "n1", "n2", "device", "threads",
                       "brute-rows", "reps", "seed"},
                      {"check"});
  if (a.has("help")) {
    std::cout << kHelp;
    return kExitOk;
  }
  if (a.positional.size() != 1 || a.positional[0] != "retrieval")
    throw InputError("expected `peer bench retrieval` (see --help)");
  const int64_t N = a.get_int("experts", 1 << 20), H = a.get_int("heads", 8), K = a.get_int("topk", 16),
                D = a.get_int("key-dim", 128), Qt = a.get_int("queries", 4096), reps = a.get_int("reps", 5);
  int64_t n1 = a.get_int("n1", 0), n2 = a.get_int("n2", 0);
  if (n1 == 0 && n2 == 0) n1 = n2 = int64_t(std::llround(std::sqrt(double(N))));
  if (n1 < 1 || n2 < 1 || n1 * n2 != N)
    throw InputError("--experts " + std::to_string(N) + " is not n1 * n2 (give a perfect square or --n1 and --n2)");
  if (H < 1 || Qt < 1 || reps < 1) throw InputError("--heads, --queries and --reps must be >= 1");
  if (D < 2 || D % 2) throw InputError("--key-dim must be even and >= 2");
  if (K < 1 || K > std::min(N, int64_t(4096))) throw InputError("--topk must be in [1, min(N, 4096)]");
  const std::string device = a.get("device", "cpu");
  if (device == "cuda") cuda::refuse("[bench] --device cuda", "product-key retrieval");
  else if (device != "cpu") throw InputError("--device must be cpu or cuda");
  set_num_threads(int(a.get_int("threads", 2)));

  const int64_t rows = Qt * H, half = D / 2, brute_rows = std::min(rows, a.get_int("brute-rows", 256));
  const uint64_t seed = uint64_t(a.get_int("seed", 1));
  std::vector<float> q(rows * D), c1(n1 * half), c2(n2 * half);
  fill(q, seed, 1, 1.0f);
  fill(c1, seed, 2, 1.0f / std::sqrt(float(half)));
  fill(c2, seed, 3, 1.0f / std::sqrt(float(half)));
  KeyTables keys{c1.data(), c2.data(), n1, n2, half};
  std::vector<int32_t> idx(rows * K), bidx(brute_rows * K);
  std::vector<float> sc(rows * K), bsc(brute_rows * K);

  std::vector<double> times;
  for (int64_t r = 0; r < reps; ++r) {
    auto t0 = std::chrono::steady_clock::now();
    product_key_topk(q.data(), rows, D, keys, K, idx.data(), sc.data());
    times.push_back(seconds_since(t0));
  }
  std::sort(times.begin(), times.end());
  const double pk_s = times[times.size() / 2];
  auto t0 = std::chrono::steady_clock::now();
  brute_force_topk(q.data(), brute_rows, D, keys, K, bidx.data(), bsc.data());
  const double bf_s = seconds_since(t0);
  const double pk_rate = double(rows) / pk_s, bf_rate = double(brute_rows) / bf_s;

  std::printf("retrieval: N %ld (%ld x %ld), %ld query rows (%ld tokens x %ld heads), top-%ld, d_key %ld, %d threads\n",
              long(N), long(n1), long(n2), long(rows), long(Qt), long(H), long(K), long(D), num_threads());
  std::printf("  product keys: %.1f ms for all rows (median of %ld) = %.0f rows/s\n", pk_s * 1e3, long(reps), pk_rate);
  std::printf("  brute force : %.1f ms for %ld rows = %.0f rows/s\n", bf_s * 1e3, long(brute_rows), bf_rate);
  std::printf("  speed-up    : %.1fx\n", pk_rate / bf_rate);
  nlohmann::json out = {{"experts", N},          {"rows", rows},           {"topk", K},
                        {"d_key", D},            {"threads", num_threads()}, {"product_key_ms", pk_s * 1e3},
                        {"product_key_rows_per_s", pk_rate}, {"brute_force_rows_per_s", bf_rate},
                        {"speedup", pk_rate / bf_rate}};
  int rc = kExitOk;
  if (a.has("check")) {
    bool same = std::equal(bidx.begin(), bidx.end(), idx.begin()) && std::equal(bsc.begin(), bsc.end(), sc.begin());
    std::printf("  check       : %s on %ld rows (indices and scores %s)\n", same ? "OK" : "MISMATCH",
                long(brute_rows), same ? "identical" : "differ");
    out["check"] = same;
    rc = same ? kExitOk : kExitFailed;
  }
  std::cout << out.dump() << "\n";
  return rc;
}

}  // namespace peer
