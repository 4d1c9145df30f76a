// `peer bench retrieval`: product-key top-k against exact brute force over all N experts.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>
#include <nlohmann/json.hpp>

#include "core/cuda/device.h"
#include "core/error.h"
#include "core/io/input_file.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "experiments/cli/args.h"
#include "experiments/cli/commands.h"
#include "experiments/run/config.h"
#include "experiments/run/exit_code.h"
#include "peer/product_keys.h"

namespace peer {

namespace {
const char* kHelp = R"(usage: peer bench retrieval [--num-experts N] [--heads H] [--top-k K] [--d-key D]
                           [--queries Q] [--n1 A --n2 B] [--device cpu|cuda] [--check] [--threads T]
                           [--brute-rows R] [--reps N] [--seed S]

Times exact product-key top-k retrieval for Q tokens x H heads query rows over N experts
(N = n1 * n2, n1 = n2 = sqrt(N) unless given), against brute force over all N scores on the first
R rows (default 256; its rate is per row, so the speed-up is rate against rate). --check verifies
that both return the same indices and scores on those rows (exit 1 if not). Defaults: N 2^20,
H 8, K 16, D 128, Q 4096, threads 2, reps 5. The last line is JSON.

--device cuda (K <= 64) times the GPU retrieval (CUDA events, median of the reps after a warm-up)
and the GPU brute force, and reports the fraction of the memory-bandwidth floor reached (queries
and keys read once, against the device's theoretical peak). Its --check runs both GPU paths on the
first R rows (same indices and scores, exit 1 if not) and counts the rows whose index sets differ
from the CPU's product keys over all rows (the GPU's sub-scores differ in the last bits, so only
near-ties can differ: expect 0 for these random inputs). Without a CUDA device it exits 2.
)";

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

void fill(std::vector<float>& v, uint64_t seed, uint64_t stream, float std) {
  Philox rng(seed, stream);
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < int64_t(v.size()); ++i) v[i] = std * rng.normal(uint64_t(i));
}

Tensor on_device(const float* p, int64_t rows, int64_t cols) {
  Tensor t({rows, cols});
  std::copy(p, p + rows * cols, t.data());
  return t.to(Device::CUDA);
}

// The --device cuda path: the same inputs as the CPU path, retrieved on the GPU.
int bench_cuda(const Args& a, const std::vector<float>& q, const std::vector<float>& c1, const std::vector<float>& c2,
               const KeyTables& host_keys, int64_t rows, int64_t brute_rows, int64_t K, int64_t reps) {
  const int64_t n1 = host_keys.n1, n2 = host_keys.n2, half = host_keys.half, N = n1 * n2, D = 2 * half;
  const Tensor dq = on_device(q.data(), rows, D), dq_brute = on_device(q.data(), brute_rows, D);
  const Tensor dc1 = on_device(c1.data(), n1, half), dc2 = on_device(c2.data(), n2, half);
  const KeyTables keys{dc1.data(), dc2.data(), n1, n2, half};
  Tensor idx, sc, bidx, bsc;
  cuda::product_key_topk(dq, keys, K, idx, sc);  // warm-up: cuBLAS handle, allocator, caches
  std::vector<double> times;
  for (int64_t r = 0; r < reps; ++r)
    times.push_back(cuda::device_ms([&] { cuda::product_key_topk(dq, keys, K, idx, sc); }) * 1e-3);
  std::sort(times.begin(), times.end());
  const double pk_s = times[times.size() / 2];
  const double bf_s = cuda::device_ms([&] { cuda::brute_force_topk(dq_brute, keys, K, bidx, bsc); }) * 1e-3;
  const double pk_rate = double(rows) / pk_s, bf_rate = double(brute_rows) / bf_s;
  const double floor_bytes = 4.0 * double(rows * D + (n1 + n2) * half);
  const double peak = cuda::peak_bandwidth(), of_peak = floor_bytes / pk_s / peak;

  std::printf("retrieval (cuda, %s): N %ld (%ld x %ld), %ld query rows, top-%ld, d_key %ld\n",
              cuda::backend_state().c_str(), long(N), long(n1), long(n2), long(rows), long(K), long(D));
  std::printf("  product keys: %.3f ms for all rows (median of %ld) = %.0f rows/s\n", pk_s * 1e3, long(reps), pk_rate);
  std::printf("  brute force : %.3f ms for %ld rows = %.0f rows/s\n", bf_s * 1e3, long(brute_rows), bf_rate);
  std::printf("  speed-up    : %.1fx\n", pk_rate / bf_rate);
  std::printf("  bandwidth   : %.1f%% of the floor (%.1f MB of queries and keys at the theoretical peak %.0f GB/s)\n",
              100.0 * of_peak, floor_bytes * 1e-6, peak * 1e-9);
  nlohmann::json out = {{"device", "cuda"},
                        {"experts", N},
                        {"rows", rows},
                        {"topk", K},
                        {"d_key", D},
                        {"product_key_ms", pk_s * 1e3},
                        {"product_key_rows_per_s", pk_rate},
                        {"brute_force_rows_per_s", bf_rate},
                        {"speedup", pk_rate / bf_rate},
                        {"fraction_of_peak_bandwidth", of_peak}};
  int rc = kExitOk;
  if (a.has("check")) {
    // Both GPU paths on the same rows see the same sub-scores: identical results.
    Tensor pidx, psc;
    cuda::product_key_topk(dq_brute, keys, K, pidx, psc);
    const Tensor p_i = pidx.to(Device::CPU), p_s = psc.to(Device::CPU), b_i = bidx.to(Device::CPU),
                 b_s = bsc.to(Device::CPU);
    const bool same = std::equal(p_i.data_i32(), p_i.data_i32() + p_i.numel(), b_i.data_i32()) &&
                      std::equal(p_s.data(), p_s.data() + p_s.numel(), b_s.data());
    // Against the CPU's product keys: index sets per row.
    std::vector<int32_t> cidx(rows * K);
    std::vector<float> csc(rows * K);
    product_key_topk(q.data(), rows, D, host_keys, K, cidx.data(), csc.data());
    const Tensor g_i = idx.to(Device::CPU);
    int64_t differ = 0;
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<int32_t> x(g_i.data_i32() + r * K, g_i.data_i32() + (r + 1) * K), y(&cidx[r * K], &cidx[(r + 1) * K]);
      std::sort(x.begin(), x.end());
      std::sort(y.begin(), y.end());
      differ += x != y;
    }
    std::printf("  check       : %s on %ld rows (GPU product keys and GPU brute force %s)\n", same ? "OK" : "MISMATCH",
                long(brute_rows), same ? "identical" : "differ");
    std::printf("  vs CPU      : %ld of %ld rows have a different index set\n", long(differ), long(rows));
    out["check"] = same;
    out["rows_differing_from_cpu"] = differ;
    rc = same ? kExitOk : kExitFailed;
  }
  std::cout << out.dump() << "\n";
  return rc;
}
}  // namespace

int cmd_bench(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2,
                      {"num-experts", "heads", "top-k", "d-key", "queries", "n1", "n2", "device", "threads",
                       "brute-rows", "reps", "seed"},
                      {"check"});
  if (a.has("help")) {
    std::cout << kHelp;
    return kExitOk;
  }
  if (a.positional.size() != 1 || a.positional[0] != "retrieval")
    throw InputError("expected `peer bench retrieval` (see --help)");
  // Every flag bounded before any product of them is formed (the limits of config.h).
  auto flag = [&](const std::string& name, int64_t fallback, int64_t lo, int64_t hi) {
    const int64_t v = a.get_int(name, fallback);
    if (v < lo || v > hi)
      throw InputError("--" + name + " " + std::to_string(v) + ": must be in [" + std::to_string(lo) + ", " +
                       std::to_string(hi) + "]");
    return v;
  };
  const int64_t N = flag("num-experts", 1 << 20, 1, kMaxExperts), H = flag("heads", 8, 1, kMaxSize),
                D = flag("d-key", 128, 2, kMaxSize), Qt = flag("queries", 4096, 1, kMaxSize),
                reps = flag("reps", 5, 1, kMaxSize), threads = flag("threads", 2, 1, kMaxThreads);
  int64_t n1 = flag("n1", 0, 0, kMaxExperts), n2 = flag("n2", 0, 0, kMaxExperts);
  if (n1 == 0 && n2 == 0) n1 = n2 = int64_t(std::llround(std::sqrt(double(N))));
  if (n1 < 1 || n2 < 1 || n1 * n2 != N)
    throw InputError("--num-experts " + std::to_string(N) + " is not n1 * n2 (give a perfect square or --n1 and --n2)");
  if (D % 2) throw InputError("--d-key must be even and >= 2");
  const int64_t K = flag("top-k", 16, 1, std::min(N, kMaxTopK));
  const std::string device = a.get("device", "cpu");
  if (device != "cpu" && device != "cuda") throw InputError("--device must be cpu or cuda");
  if (device == "cuda" && cuda::device_count() == 0)
    throw InputError("[bench] --device cuda: no CUDA device (this build: " + cuda::backend_state() + ")");
  if (device == "cuda" && K > 64) throw InputError("--top-k must be <= 64 with --device cuda");
  // Queries, keys, and indices and scores of every row (twice on the brute-force rows).
  require_memory(4.0 * (double(Qt) * double(H) * (double(D) + 2 * double(K)) + double(n1 + n2) * double(D)),
                 "--queries x --heads x (--d-key + 2 --top-k)");
  set_num_threads(int(threads));

  const int64_t rows = Qt * H, half = D / 2, brute_rows = std::min(rows, flag("brute-rows", 256, 1, kMaxSize));
  const uint64_t seed = uint64_t(a.get_int("seed", 1));
  std::vector<float> q(rows * D), c1(n1 * half), c2(n2 * half);
  fill(q, seed, 1, 1.0f);
  fill(c1, seed, 2, 1.0f / std::sqrt(float(half)));
  fill(c2, seed, 3, 1.0f / std::sqrt(float(half)));
  KeyTables keys{c1.data(), c2.data(), n1, n2, half};
  if (device == "cuda") return bench_cuda(a, q, c1, c2, keys, rows, brute_rows, K, reps);
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
