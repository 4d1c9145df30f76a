// CUDA scatter-add into rows (core/sparse_rows.h). Contribution i gets the key target[i] (the
// sentinel num_rows when it adds nothing) and the id i; the rows a gradient already held come
// after the n new contributions as ids n.. . A stable radix sort by key groups each row's
// contributions in id order; a scan over the first position of each row numbers the rows; then
// block s sums slot s's contributions one after another, each thread its columns. The order of
// every sum is fixed by the inputs alone: deterministic without atomics.
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>

#include <algorithm>
#include <stdexcept>

#include "core/cuda/check.h"
#include "core/ops/cuda/launch.cuh"
#include "core/sparse_rows.h"

namespace peer::cuda {

namespace {

constexpr int kSlotThreads = 128;
constexpr int kMaxSlotBlocks = 8192;

// keys (m), ids (m): the sort's input. old: the slots grad held (kPadRow where empty).
__global__ void keys_kernel(const int32_t* target, int64_t n, const int32_t* old, int64_t m, int32_t num_rows,
                            int32_t* keys, int32_t* ids) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < m; i += int64_t(gridDim.x) * blockDim.x) {
    const int32_t r = i < n ? target[i] : old[i - n];
    keys[i] = r < 0 || r >= num_rows ? num_rows : r;
    ids[i] = int32_t(i);
  }
}

// head[i] = 1 where a row's run of sorted keys starts (the sentinel run excluded).
__global__ void heads_kernel(const int32_t* keys, int64_t m, int32_t sentinel, int32_t* head) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < m; i += int64_t(gridDim.x) * blockDim.x)
    head[i] = keys[i] != sentinel && (i == 0 || keys[i] != keys[i - 1]);
}

// seg: inclusive sum of head. starts (slots + 1): starts[s] = where row s's run begins, and the
// entry after the last row's = where the last run ends.
__global__ void starts_kernel(const int32_t* keys, const int32_t* head, const int32_t* seg, int64_t m,
                              int32_t sentinel, int32_t* starts) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < m; i += int64_t(gridDim.x) * blockDim.x) {
    if (head[i]) starts[seg[i] - 1] = int32_t(i);
    if (keys[i] != sentinel && (i + 1 == m || keys[i + 1] == sentinel)) starts[seg[i]] = int32_t(i + 1);
  }
}

// Block per slot s: slot s < count (= seg[m - 1], the number of rows) is the s-th row with the
// sum of its contributions in id order; the rest are padding.
__global__ void reduce_kernel(const int32_t* keys, const int32_t* ids, const int32_t* starts, const int32_t* count_at,
                              int64_t slots, int64_t n, int64_t group, const float* coef, const float* src,
                              int64_t ld, const float* old_values, int64_t w, int32_t* index, float* values) {
  const int64_t count = *count_at;
  for (int64_t s = blockIdx.x; s < slots; s += gridDim.x) {
    float* out = values + s * w;
    if (s >= count) {
      if (threadIdx.x == 0) index[s] = RowSparseGrad::kPadRow;
      for (int64_t j = threadIdx.x; j < w; j += blockDim.x) out[j] = 0.0f;
      continue;
    }
    const int64_t b = starts[s], e = starts[s + 1];
    if (threadIdx.x == 0) index[s] = keys[b];
    for (int64_t j = threadIdx.x; j < w; j += blockDim.x) {
      float acc = 0.0f;
      for (int64_t i = b; i < e; ++i) {
        const int64_t c = ids[i];
        const float v = c < n ? coef[c] * src[(c / group) * ld + j] : old_values[(c - n) * w + j];
        acc = i == b ? v : acc + v;
      }
      out[j] = acc;
    }
  }
}

// Scratch for CUB's temporary storage, as an I32 tensor of at least `bytes`.
void* scratch(Tensor& t, size_t bytes) {
  t.resize({int64_t((bytes + 3) / 4) + 1}, Device::CUDA, DType::I32);
  return t.data_i32();
}

}  // namespace

void scatter_rows(const int32_t* target, const float* coef, int64_t n, int64_t group, const float* src, int64_t ld,
                  int64_t w, int64_t num_rows, RowSparseGrad& grad) {
  if (!grad.rows.empty()) {  // host rows over device values: into the device layout first
    grad.index.assign(grad.rows.data(), {int64_t(grad.rows.size())}, Device::CUDA);
    grad.rows.clear();
  }
  const int64_t old = grad.index.numel(), m = n + old;
  if (num_rows < 1 || num_rows >= RowSparseGrad::kPadRow || m >= RowSparseGrad::kPadRow || group < 1)
    throw std::invalid_argument("[scatter_rows] needs 1 <= rows < 2^31 - 1, fewer than 2^31 - 1 contributions");
  if (m == 0) return;
  Tensor old_index = grad.index, old_values = grad.values;  // shares storage; replaced below
  const int32_t sentinel = int32_t(num_rows);
  Tensor keys({m}, Device::CUDA, DType::I32), ids({m}, Device::CUDA, DType::I32), sorted_keys, sorted_ids, head, seg,
      temp;
  sorted_keys.resize({m}, Device::CUDA, DType::I32);
  sorted_ids.resize({m}, Device::CUDA, DType::I32);
  head.resize({m}, Device::CUDA, DType::I32);
  seg.resize({m}, Device::CUDA, DType::I32);
  keys_kernel<<<grid_size(m), kThreads>>>(target, n, old ? old_index.data_i32() : nullptr, m, sentinel,
                                          keys.data_i32(), ids.data_i32());
  PEER_CUDA_CHECK_LAUNCH();
  int end_bit = 1;
  while (end_bit < 31 && (int64_t(1) << end_bit) <= num_rows) ++end_bit;  // keys <= num_rows
  size_t bytes = 0;
  PEER_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, bytes, keys.data_i32(), sorted_keys.data_i32(),
                                                  ids.data_i32(), sorted_ids.data_i32(), int(m), 0, end_bit));
  PEER_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(scratch(temp, bytes), bytes, keys.data_i32(), sorted_keys.data_i32(),
                                                  ids.data_i32(), sorted_ids.data_i32(), int(m), 0, end_bit));
  heads_kernel<<<grid_size(m), kThreads>>>(sorted_keys.data_i32(), m, sentinel, head.data_i32());
  PEER_CUDA_CHECK_LAUNCH();
  bytes = 0;
  PEER_CUDA_CHECK(cub::DeviceScan::InclusiveSum(nullptr, bytes, head.data_i32(), seg.data_i32(), int(m)));
  PEER_CUDA_CHECK(cub::DeviceScan::InclusiveSum(scratch(temp, bytes), bytes, head.data_i32(), seg.data_i32(), int(m)));
  const int64_t slots = std::min(m, num_rows);
  Tensor starts({slots + 1}, Device::CUDA, DType::I32);
  starts_kernel<<<grid_size(m), kThreads>>>(sorted_keys.data_i32(), head.data_i32(), seg.data_i32(), m, sentinel,
                                            starts.data_i32());
  PEER_CUDA_CHECK_LAUNCH();
  if (old) grad.values = Tensor();  // the old values are read while the new ones are written
  grad.index = Tensor({slots}, Device::CUDA, DType::I32);
  grad.values.resize({slots, w}, Device::CUDA);
  reduce_kernel<<<int(std::min<int64_t>(slots, kMaxSlotBlocks)), kSlotThreads>>>(
      sorted_keys.data_i32(), sorted_ids.data_i32(), starts.data_i32(), seg.data_i32() + (m - 1), slots, n, group,
      coef, src, ld, old ? old_values.data() : nullptr, w, grad.index.data_i32(), grad.values.data());
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
