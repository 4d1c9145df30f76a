// Product-key top-k on the GPU (peer/product_keys.h), exact over the sums of its own sub-scores.
// Per chunk of queries: s1 = q1 C1^T and s2 = q2 C2^T by cuBLAS; then one block per query whose
// two warps each select the top min(k+1, n) of one half (every lane keeps a sorted TopList of its
// strided share, the warp pops the best head k+1 times), merges the halves in shared memory with
// the PEER_HD merge_half_topk the CPU runs, writes the k results and a per-query fallback flag;
// then a brute-force kernel redoes the flagged queries over all n1 * n2 sums. The brute force
// (also the oracle, brute_force_topk) uses the same sums s1[a] + s2[b] and the same tie rule.
// The top k under the total order (score desc, index asc) does not depend on how the work is
// split, so results are deterministic; no atomics anywhere.
#include <algorithm>
#include <climits>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/cuda/check.h"
#include "core/gemm.h"
#include "peer/product_keys.h"
#include "peer/topk_merge.h"

namespace peer::cuda {

namespace {

constexpr int kMaxK = 64;  // per-lane lists live in local memory: k + 1 entries each
constexpr int kWarp = 32;
constexpr int kBruteThreads = 256;
constexpr int kBruteWarps = kBruteThreads / kWarp;
constexpr int64_t kScratchFloats = int64_t(1) << 24;  // s1 + s2 per chunk of queries: 64 MiB

// Each lane of the warp holds `mine` (sorted, best first); writes the best `count` entries of
// their union to out (lane 0 writes). Each round every lane offers its head, a butterfly finds the
// best (the order is total and indices are unique, so every lane agrees) and its owner advances.
// The union must hold at least `count` entries.
__device__ void warp_merge(const TopList& mine, int64_t count, float* out_score, int32_t* out_index) {
  int64_t head = 0;
  for (int64_t r = 0; r < count; ++r) {
    float s = head < mine.size ? mine.score[head] : -INFINITY;
    int32_t i = head < mine.size ? mine.index[head] : INT32_MAX;  // loses to every real entry
    for (int offset = kWarp / 2; offset > 0; offset /= 2) {
      const float t = __shfl_xor_sync(0xffffffffu, s, offset);
      const int32_t j = __shfl_xor_sync(0xffffffffu, i, offset);
      if (TopList::better(t, j, s, i)) s = t, i = j;
    }
    if (head < mine.size && mine.index[head] == i) ++head;
    if (threadIdx.x % kWarp == 0) out_score[r] = s, out_index[r] = i;
  }
}

// Block (2 warps) per query row: warp h selects the half list of s_h, thread 0 merges. fallback[row]
// is set where merge_half_topk cannot vouch for the k-th place (its output is then rewritten).
__global__ void product_key_kernel(const float* s1, const float* s2, int64_t n1, int64_t n2, int64_t k,
                                   int32_t* index, float* score, int32_t* fallback) {
  __shared__ float half_score[2][kMaxK + 1];
  __shared__ int32_t half_index[2][kMaxK + 1];
  __shared__ float out_score[kMaxK];
  __shared__ int32_t out_index[kMaxK];
  const int64_t row = blockIdx.x;
  const int h = threadIdx.x / kWarp;
  const int64_t n = h == 0 ? n1 : n2, kk = min(k + 1, n);
  const float* s = h == 0 ? s1 + row * n1 : s2 + row * n2;
  float lane_score[kMaxK + 1];
  int32_t lane_index[kMaxK + 1];
  TopList mine{lane_score, lane_index, 0, kk};
  for (int64_t j = threadIdx.x % kWarp; j < n; j += kWarp) mine.offer(s[j], int32_t(j));
  warp_merge(mine, kk, half_score[h], half_index[h]);
  __syncthreads();
  if (threadIdx.x == 0) {
    const int64_t k1 = min(k + 1, n1), k2 = min(k + 1, n2);
    const TopList a{half_score[0], half_index[0], k1, k1}, b{half_score[1], half_index[1], k2, k2};
    TopList out{out_score, out_index, 0, k};
    fallback[row] = merge_half_topk(a, b, n2, out) ? 0 : 1;
  }
  __syncthreads();
  for (int64_t j = threadIdx.x; j < k; j += blockDim.x) {
    index[row * k + j] = out_index[j];
    score[row * k + j] = out_score[j];
  }
}

// Block (kBruteThreads) per query row: the top k of all n1 * n2 sums s1[a] + s2[b] (expert
// a * n2 + b), for every row or, with `only`, for the rows it flags.
__global__ void brute_force_kernel(const float* s1, const float* s2, int64_t n1, int64_t n2, int64_t k,
                                   const int32_t* only, int32_t* index, float* score) {
  const int64_t row = blockIdx.x;
  if (only && !only[row]) return;
  __shared__ float warp_score[kBruteWarps][kMaxK];
  __shared__ int32_t warp_index[kBruteWarps][kMaxK];
  const float* r1 = s1 + row * n1;
  const float* r2 = s2 + row * n2;
  const uint32_t N = uint32_t(n1 * n2), m = uint32_t(n2);  // N < 2^31 (checked)
  float lane_score[kMaxK];
  int32_t lane_index[kMaxK];
  TopList mine{lane_score, lane_index, 0, k};
  for (uint32_t e = threadIdx.x; e < N; e += kBruteThreads) mine.offer(r1[e / m] + r2[e % m], int32_t(e));
  // A warp passes on the best min(k, entries it holds); together the warps hold min(k, N) = k.
  __shared__ int64_t warp_kept[kBruteWarps];
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp;
  int64_t held = mine.size;
  for (int offset = kWarp / 2; offset > 0; offset /= 2) held += __shfl_xor_sync(0xffffffffu, held, offset);
  const int64_t kept = min(k, held);
  warp_merge(mine, kept, warp_score[warp], warp_index[warp]);
  if (lane == 0) warp_kept[warp] = kept;
  __syncthreads();
  if (warp == 0) {
    const int w = lane % kBruteWarps;
    const TopList list{warp_score[w], warp_index[w], lane < kBruteWarps ? warp_kept[w] : 0, k};
    warp_merge(list, k, score + row * k, index + row * k);
  }
}

void check_args(const Tensor& q, const KeyTables& keys, int64_t k, const char* what) {
  const std::string name = std::string("[") + what + "] ";
  if (q.device() != Device::CUDA || q.dtype() != DType::F32 || q.ndim() != 2 || q.dim(1) != 2 * keys.half)
    throw std::invalid_argument(name + "q must be an F32 CUDA tensor (Q, 2 * half = " + std::to_string(2 * keys.half) +
                                "), got " + q.shape_str());
  if (keys.n1 < 1 || keys.n2 < 1 || keys.half < 1 || keys.size() > INT32_MAX)
    throw std::invalid_argument(name + "key tables must be non-empty with n1 * n2 < 2^31");
  if (k < 1 || k > std::min<int64_t>(keys.size(), kMaxK))
    throw std::invalid_argument(name + "k = " + std::to_string(k) + " must be in [1, min(N, " +
                                std::to_string(kMaxK) + ")] on CUDA");
}

// Both entry points: the same chunks and GEMMs, so for the same q both see the same sub-scores.
void retrieve(const Tensor& q, const KeyTables& keys, int64_t k, bool product, Tensor& index, Tensor& score,
              const char* what) {
  check_args(q, keys, k, what);
  const int64_t Q = q.dim(0), n1 = keys.n1, n2 = keys.n2, half = keys.half;
  index.resize({Q, k}, Device::CUDA, DType::I32);
  score.resize({Q, k}, Device::CUDA, DType::F32);
  if (Q == 0) return;
  const int64_t chunk = std::clamp<int64_t>(kScratchFloats / (n1 + n2), 1, Q);
  Tensor s1, s2, fallback;
  s1.resize({chunk, n1}, Device::CUDA);
  s2.resize({chunk, n2}, Device::CUDA);
  fallback.resize({chunk}, Device::CUDA, DType::I32);
  for (int64_t r0 = 0; r0 < Q; r0 += chunk) {
    const int64_t rows = std::min(chunk, Q - r0);
    const float* qr = q.data() + r0 * 2 * half;
    gemm(false, true, rows, n1, half, 1.0f, qr, 2 * half, keys.c1, half, 0.0f, s1.data(), n1);
    gemm(false, true, rows, n2, half, 1.0f, qr + half, 2 * half, keys.c2, half, 0.0f, s2.data(), n2);
    int32_t* idx = index.data_i32() + r0 * k;
    float* sc = score.data() + r0 * k;
    if (product) {
      product_key_kernel<<<unsigned(rows), 2 * kWarp>>>(s1.data(), s2.data(), n1, n2, k, idx, sc, fallback.data_i32());
      PEER_CUDA_CHECK_LAUNCH();
    }
    brute_force_kernel<<<unsigned(rows), kBruteThreads>>>(s1.data(), s2.data(), n1, n2, k,
                                                          product ? fallback.data_i32() : nullptr, idx, sc);
    PEER_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace

void product_key_topk(const Tensor& q, const KeyTables& keys, int64_t k, Tensor& index, Tensor& score) {
  retrieve(q, keys, k, true, index, score, "product_key_topk");
}

void brute_force_topk(const Tensor& q, const KeyTables& keys, int64_t k, Tensor& index, Tensor& score) {
  retrieve(q, keys, k, false, index, score, "brute_force_topk");
}

double device_ms(const std::function<void()>& fn) {
  cudaEvent_t start = nullptr, stop = nullptr;
  PEER_CUDA_CHECK(cudaEventCreate(&start));
  PEER_CUDA_CHECK(cudaEventCreate(&stop));
  PEER_CUDA_CHECK(cudaEventRecord(start, 0));
  fn();
  PEER_CUDA_CHECK(cudaEventRecord(stop, 0));
  PEER_CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0.0f;
  PEER_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
  PEER_CUDA_CHECK(cudaEventDestroy(start));
  PEER_CUDA_CHECK(cudaEventDestroy(stop));
  return ms;
}

double peak_bandwidth() {
  int clock_khz = 0, bus_bits = 0;
  PEER_CUDA_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrMemoryClockRate, 0));
  PEER_CUDA_CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, 0));
  return 2.0 * clock_khz * 1e3 * bus_bits / 8.0;
}

}  // namespace peer::cuda
