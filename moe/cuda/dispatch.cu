// The dispatch plan on the GPU (moe/dispatch.h), with no host round trip, equal to the CPU's plan:
//   1. counts per expert (integer atomics: the counts do not depend on their order);
//   2. one thread scans them: where each expert's assignments start in priority order, the kept
//      rows' offsets (min(count, capacity) each) and the tiles of the grouped GEMMs;
//   3. capacity only: a stable radix sort (CUB) of the keys (expert, rank s, gate descending) with
//      the assignment index as value puts each expert's assignments in the CPU's priority order
//      (the stable sort keeps ties in index order); the first `capacity` of each expert are kept;
//   4. a stable radix sort by expert (dropped ones after every expert) of the assignment indices
//      gives the grouped rows, tokens ascending within an expert, as the CPU's counting sort does.
#include <cub/cub.cuh>

#include <climits>
#include <stdexcept>
#include <string>

#include "core/cuda/check.h"
#include "core/ops/cuda/launch.cuh"
#include "moe/dispatch.h"

namespace peer::cuda {

namespace {

// Bits that hold the values 0 .. v.
int bits_for(int64_t v) {
  int b = 1;
  while ((int64_t(1) << b) <= v) ++b;
  return b;
}

// n values of type T in the storage of t (an i32 tensor resized to fit).
template <class T>
T* scratch(Tensor& t, int64_t n) {
  t.resize({int64_t((n * sizeof(T) + 3) / 4) + 1}, Device::CUDA, DType::I32);
  return reinterpret_cast<T*>(t.data_i32());
}

template <class K>
void sort_pairs(const K* keys_in, K* keys_out, const int32_t* values_in, int32_t* values_out, int64_t n,
                int end_bit) {
  size_t bytes = 0;
  PEER_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys_in, keys_out, values_in, values_out, int(n), 0,
                                                  end_bit, cudaStream_t(0)));
  Tensor temp;
  void* storage = scratch<char>(temp, int64_t(bytes));
  PEER_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(storage, bytes, keys_in, keys_out, values_in, values_out, int(n), 0,
                                                  end_bit, cudaStream_t(0)));
}

__global__ void count_kernel(const int32_t* expert, int64_t n, int32_t* counts) {
  for (int64_t a = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; a < n; a += int64_t(gridDim.x) * blockDim.x)
    atomicAdd(counts + expert[a], 1);
}

// One thread: start[e] (first position of expert e in priority order), offsets (E+1) of the kept
// rows, and tiles (max_tiles, 2).
__global__ void scan_kernel(const int32_t* counts, int64_t E, int64_t capacity, int64_t max_tiles, int32_t* start,
                            int32_t* offsets, int32_t* tiles) {
  int32_t all = 0;
  offsets[0] = 0;
  for (int64_t e = 0; e < E; ++e) {
    start[e] = all;
    all += counts[e];
    const int32_t kept = capacity > 0 && counts[e] > capacity ? int32_t(capacity) : counts[e];
    offsets[e + 1] = offsets[e] + kept;
  }
  int64_t t = 0;
  for (int64_t e = 0; e < E; ++e)
    for (int32_t r = offsets[e]; r < offsets[e + 1]; r += int32_t(kPlanTileRows), ++t) {
      tiles[2 * t] = int32_t(e);
      tiles[2 * t + 1] = r;
    }
  for (; t < max_tiles; ++t) tiles[2 * t] = -1, tiles[2 * t + 1] = 0;
}

// Priority key of assignment a = t*k + s: expert, then rank s, then gate descending (a float's
// bits made order-preserving as unsigned, then inverted). Value: a.
__global__ void priority_key_kernel(const int32_t* expert, const float* gate, int64_t n, int64_t k, int rank_bits,
                                    uint64_t* key, int32_t* index) {
  for (int64_t a = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; a < n; a += int64_t(gridDim.x) * blockDim.x) {
    const uint32_t u = __float_as_uint(gate[a]);
    const uint32_t ascending = u & 0x80000000u ? ~u : u | 0x80000000u;
    key[a] = (uint64_t(expert[a]) << (32 + rank_bits)) | (uint64_t(a % k) << 32) | uint64_t(~ascending);
    index[a] = int32_t(a);
  }
}

// Position i of the priority order holds assignment a: kept when it is among the first `capacity`
// of its expert. Row key: the expert, or E (after every expert) when dropped.
__global__ void keep_kernel(const int32_t* sorted, const int32_t* expert, const int32_t* start, int64_t n,
                            int64_t capacity, int64_t E, uint32_t* row_key) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int32_t a = sorted[i], e = expert[a];
    row_key[a] = i - start[e] < capacity ? uint32_t(e) : uint32_t(E);
  }
}

__global__ void expert_key_kernel(const int32_t* expert, int64_t n, uint32_t* row_key, int32_t* index) {
  for (int64_t a = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; a < n; a += int64_t(gridDim.x) * blockDim.x) {
    row_key[a] = uint32_t(expert[a]);
    index[a] = int32_t(a);
  }
}

// Grouped row i holds assignment sorted[i] while i < offsets[E]; the rest were dropped.
__global__ void fill_kernel(const int32_t* sorted, const int32_t* offsets, int64_t E, int64_t n, int64_t k,
                            int32_t* token, int32_t* row_of) {
  const int32_t kept = offsets[E];
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    const int32_t a = sorted[i];
    if (i < kept) {
      token[i] = int32_t(a / k);
      row_of[a] = int32_t(i);
    } else {
      row_of[a] = -1;
    }
  }
}

}  // namespace

void plan_dispatch(const Routing& r, int64_t E, int64_t capacity, DispatchPlan& p) {
  const int64_t n = r.tokens * r.k, k = r.k;
  const int rank_bits = bits_for(k - 1), expert_bits = bits_for(E - 1);
  if (n >= INT32_MAX || 32 + rank_bits + expert_bits > 64)
    throw std::invalid_argument("[moe.plan_dispatch] N*k = " + std::to_string(n) + " and E = " + std::to_string(E) +
                                " too large for the GPU plan's 32-bit rows and 64-bit sort keys");
  const int64_t max_tiles = (n + kPlanTileRows - 1) / kPlanTileRows + E;
  p.offsets.resize({E + 1}, Device::CUDA, DType::I32);
  p.token.resize({n}, Device::CUDA, DType::I32);
  p.row_of.resize({n}, Device::CUDA, DType::I32);
  p.tiles.resize({max_tiles, 2}, Device::CUDA, DType::I32);
  Tensor counts({E}, Device::CUDA, DType::I32), start, keys, keys_sorted, index, index_sorted;
  int32_t* start_p = scratch<int32_t>(start, E);
  if (n > 0) {
    count_kernel<<<grid_size(n), kThreads>>>(r.expert.data_i32(), n, counts.data_i32());
    PEER_CUDA_CHECK_LAUNCH();
  }
  scan_kernel<<<1, 1>>>(counts.data_i32(), E, capacity, max_tiles, start_p, p.offsets.data_i32(),
                        p.tiles.data_i32());
  PEER_CUDA_CHECK_LAUNCH();
  if (n == 0) return;
  int32_t* idx = scratch<int32_t>(index, n);
  int32_t* idx_sorted = scratch<int32_t>(index_sorted, n);
  Tensor row_keys, row_keys_sorted;
  uint32_t* row_key = scratch<uint32_t>(row_keys, n);
  if (capacity > 0) {
    uint64_t* key = scratch<uint64_t>(keys, n);
    priority_key_kernel<<<grid_size(n), kThreads>>>(r.expert.data_i32(), r.gate.data(), n, k, rank_bits, key, idx);
    PEER_CUDA_CHECK_LAUNCH();
    sort_pairs(key, scratch<uint64_t>(keys_sorted, n), idx, idx_sorted, n, 32 + rank_bits + expert_bits);
    keep_kernel<<<grid_size(n), kThreads>>>(idx_sorted, r.expert.data_i32(), start_p, n, capacity, E, row_key);
    PEER_CUDA_CHECK_LAUNCH();
  } else {
    expert_key_kernel<<<grid_size(n), kThreads>>>(r.expert.data_i32(), n, row_key, idx);
    PEER_CUDA_CHECK_LAUNCH();
  }
  // idx is still 0 .. n-1 (a sort leaves its inputs as they were).
  sort_pairs(row_key, scratch<uint32_t>(row_keys_sorted, n), idx, idx_sorted, n, bits_for(E));
  fill_kernel<<<grid_size(n), kThreads>>>(idx_sorted, p.offsets.data_i32(), E, n, k, p.token.data_i32(),
                                          p.row_of.data_i32());
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
