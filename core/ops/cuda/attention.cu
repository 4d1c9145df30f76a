// The attention core on CUDA, fused per row: one thread block per (sequence, head, query row)
// computes that row's scores, causal softmax and weighted sum of v in shared memory; the backward
// runs one block per query row (score gradients, dq) and then one per key row (dk, dv). Every
// output element has one writer and every sum a fixed order (lane butterflies, then warps in
// order): the same bits run after run, no atomics. A block keeps a row (or column) of T scores
// in shared memory: T up to about 6000 positions, ample for this model's context lengths.
//
// The softmax of a row is written out here (row max, attention_weight, sum, scale); the per-element
// functions are the CPU's (ops/attention_math.h). Dropout of the weights draws the CPU's mask from
// the shared rule (ops/dropout_math.h): weight j of row i of head bh is element
// bh*T*T + i*T + j of the (B, H, T, T) weights, as in the CPU's Dropout::apply. The forward keeps
// the dropped weights (the key kernel's dv needs them by column, where each element would cost a
// Philox block of its own); the row kernel of the backward draws its row's factors again, a block
// per 8 weights, instead of reading a stored mask.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "core/cuda/check.h"
#include "core/ops/attention.h"
#include "core/ops/attention_math.h"

namespace peer::cuda {

namespace {

constexpr int kThreads = 128;
constexpr int kWarps = kThreads / 32;
constexpr size_t kMaxShared = 48 * 1024;  // per block, without opting in to more

__device__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;  // each step adds a pair in both lanes (a + b == b + a): all lanes agree
}

__device__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

// Sum (or max) over the block of one value per thread, returned to every thread. red: kWarps
// floats of shared memory, free again on return.
template <bool kMax>
__device__ float block_reduce(float v, float* red) {
  v = kMax ? warp_max(v) : warp_sum(v);
  if (threadIdx.x % 32 == 0) red[threadIdx.x / 32] = v;
  __syncthreads();
  float r = red[0];
  for (int w = 1; w < kWarps; ++w) r = kMax ? fmaxf(r, red[w]) : r + red[w];
  __syncthreads();
  return r;
}

// out[j] = x . rows[j * ld ..] for j <= i, a warp per row j; x and out in shared memory.
__device__ void dots_up_to(const float* x, const float* rows, int64_t ld, int64_t i, int64_t hs, float* out) {
  const int lane = threadIdx.x % 32;
  for (int64_t j = threadIdx.x / 32; j <= i; j += kWarps) {
    float acc = 0.0f;
    for (int64_t d = lane; d < hs; d += 32) acc += x[d] * rows[j * ld + d];
    acc = warp_sum(acc);
    if (lane == 0) out[j] = acc;
  }
}

// out[d] = sum over j <= i, in order, of w[j] * rows[j * ld + d]: a thread per column d.
__device__ void weighted_sum_up_to(const float* w, const float* rows, int64_t ld, int64_t i, int64_t hs, float* out) {
  for (int64_t d = threadIdx.x; d < hs; d += blockDim.x) {
    float acc = 0.0f;
    for (int64_t j = 0; j <= i; ++j) acc += w[j] * rows[j * ld + d];
    out[d] = acc;
  }
}

// x[j] *= the dropout factor of element first + j, for j < n: a thread per Philox block of 8
// elements (the blocks are aligned to the element index, not to x).
__device__ void drop_elements(const DropoutRule& r, int64_t first, int64_t n, float* x) {
  const int64_t end = first + n;
  for (int64_t g = first / 8 + threadIdx.x; 8 * g < end; g += blockDim.x) {
    const PhiloxWords block = dropout_block(r, g);
    for (int64_t e = 8 * g; e < 8 * g + 8 && e < end; ++e)
      if (e >= first) x[e - first] *= dropout_factor(r, dropout_draw(block, e));
  }
}

// Block row = (b*H + h)*T + i, striding over all B*H*T rows. Shared: s (T), qi (hs), red. With
// `dropout`, the weights that weigh v are those of rule r; dropped receives them.
__global__ void forward_kernel(const float* qkv, int64_t B, int64_t T, int64_t H, int64_t hs, float scale,
                               bool dropout, DropoutRule r, float* probs, float* dropped, float* att) {
  extern __shared__ float smem[];
  float *s = smem, *qi = s + T, *red = qi + hs;
  const int64_t C = H * hs, ld = 3 * C;
  for (int64_t row = blockIdx.x; row < B * H * T; row += gridDim.x) {
    const int64_t i = row % T, bh = row / T, b = bh / H, h = bh % H;
    const float* k = qkv + b * T * ld + C + h * hs;  // key j at k + j * ld, value j at k + C + j * ld
    for (int64_t d = threadIdx.x; d < hs; d += blockDim.x) qi[d] = qkv[(b * T + i) * ld + h * hs + d];
    __syncthreads();
    dots_up_to(qi, k, ld, i, hs, s);
    __syncthreads();
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j <= i; j += blockDim.x) mx = fmaxf(mx, s[j] * scale);
    mx = block_reduce<true>(mx, red);
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j <= i; j += blockDim.x) sum += (s[j] = attention_weight(s[j], scale, mx));
    const float inv = 1.0f / block_reduce<false>(sum, red);
    for (int64_t j = threadIdx.x; j < T; j += blockDim.x) {  // each thread rewrites its own s[j]
      s[j] = j <= i ? s[j] * inv : 0.0f;
      probs[row * T + j] = s[j];
    }
    __syncthreads();
    if (dropout) {  // above the diagonal the weights stay 0 (0 * factor on the CPU)
      drop_elements(r, row * T, i + 1, s);
      __syncthreads();
    }
    for (int64_t j = threadIdx.x; j < T; j += blockDim.x) dropped[row * T + j] = s[j];
    weighted_sum_up_to(s, k + C, ld, i, hs, att + (b * T + i) * C + h * hs);
    __syncthreads();  // s and qi are rewritten for the next row
  }
}

// Block row as in the forward: dp_j = datt_i . v_j (times its dropout factor with `dropout`), the
// score gradients (dprobs row, zeros past i), then dq_i = sum_j ds_j k_j. Shared: ds (T), gi
// (hs), red.
__global__ void backward_rows_kernel(const float* qkv, const float* probs, const float* datt, int64_t B, int64_t T,
                                     int64_t H, int64_t hs, float scale, bool dropout, DropoutRule r, float* dprobs,
                                     float* dqkv) {
  extern __shared__ float smem[];
  float *ds = smem, *gi = ds + T, *red = gi + hs;
  const int64_t C = H * hs, ld = 3 * C;
  for (int64_t row = blockIdx.x; row < B * H * T; row += gridDim.x) {
    const int64_t i = row % T, bh = row / T, b = bh / H, h = bh % H;
    const float* k = qkv + b * T * ld + C + h * hs;
    const float* p = probs + row * T;
    for (int64_t d = threadIdx.x; d < hs; d += blockDim.x) gi[d] = datt[(b * T + i) * C + h * hs + d];
    __syncthreads();
    dots_up_to(gi, k + C, ld, i, hs, ds);
    __syncthreads();
    if (dropout) {
      drop_elements(r, row * T, i + 1, ds);
      __syncthreads();
    }
    float pdp = 0.0f;
    for (int64_t j = threadIdx.x; j <= i; j += blockDim.x) pdp += p[j] * ds[j];
    pdp = block_reduce<false>(pdp, red);
    for (int64_t j = threadIdx.x; j < T; j += blockDim.x) {
      ds[j] = j <= i ? attention_score_grad(p[j], ds[j], pdp, scale) : 0.0f;
      dprobs[row * T + j] = ds[j];
    }
    __syncthreads();
    weighted_sum_up_to(ds, k, ld, i, hs, dqkv + (b * T + i) * ld + h * hs);
    __syncthreads();
  }
}

// Block row = (b*H + h)*T + j for key j: dk_j = sum over i >= j of ds_ij q_i and dv_j = sum of
// the dropped weights d_ij datt_i, i in order, a thread per column. Shared: column j of dprobs and
// of dropped (T each).
__global__ void backward_keys_kernel(const float* qkv, const float* dropped, const float* dprobs, const float* datt,
                                     int64_t B, int64_t T, int64_t H, int64_t hs, float* dqkv) {
  extern __shared__ float smem[];
  float *dsc = smem, *dc = smem + T;
  const int64_t C = H * hs, ld = 3 * C;
  for (int64_t row = blockIdx.x; row < B * H * T; row += gridDim.x) {
    const int64_t j = row % T, bh = row / T, b = bh / H, h = bh % H;
    for (int64_t i = j + threadIdx.x; i < T; i += blockDim.x) {
      dsc[i] = dprobs[(bh * T + i) * T + j];
      dc[i] = dropped[(bh * T + i) * T + j];
    }
    __syncthreads();
    const float* q = qkv + b * T * ld + h * hs;  // query i at q + i * ld
    const float* g = datt + b * T * C + h * hs;  // its output gradient at g + i * C
    float* dk = dqkv + (b * T + j) * ld + C + h * hs;
    for (int64_t d = threadIdx.x; d < hs; d += blockDim.x) {
      float ak = 0.0f, av = 0.0f;
      for (int64_t i = j; i < T; ++i) {
        ak += dsc[i] * q[i * ld + d];
        av += dc[i] * g[i * C + d];
      }
      dk[d] = ak;
      dk[C + d] = av;
    }
    __syncthreads();
  }
}

// Shared memory of the row kernels (scores, one head row, the reduction's words) and of the key
// kernel (two columns).
size_t row_shared(int64_t T, int64_t hs) { return size_t(T + hs + kWarps) * sizeof(float); }
size_t key_shared(int64_t T) { return size_t(2 * T) * sizeof(float); }

void check_fits(int64_t T, int64_t hs) {
  if (std::max(row_shared(T, hs), key_shared(T)) > kMaxShared)
    throw std::invalid_argument("[attention] T = " + std::to_string(T) + " positions with head size " +
                                std::to_string(hs) + " do not fit the CUDA kernels' shared memory");
}

int blocks_for(int64_t rows) { return int(std::min<int64_t>(rows, int64_t(1) << 30)); }

// The kernels' (dropout, rule) arguments for rule, or for no dropout when it is null.
DropoutRule rule_or_none(const DropoutRule* rule) { return rule ? *rule : DropoutRule{}; }

}  // namespace

void attention_forward(const Tensor& qkv, int64_t B, int64_t T, int64_t H, const DropoutRule* rule, Tensor& probs,
                       Tensor& dropped, Tensor& att) {
  const int64_t hs = qkv.dim(1) / 3 / H, rows = B * H * T;
  check_fits(T, hs);
  if (rows == 0) return;
  forward_kernel<<<blocks_for(rows), kThreads, row_shared(T, hs)>>>(qkv.data(), B, T, H, hs, 1.0f / std::sqrt(float(hs)),
                                                                    rule != nullptr, rule_or_none(rule), probs.data(),
                                                                    dropped.data(), att.data());
  PEER_CUDA_CHECK_LAUNCH();
}

void attention_backward(const Tensor& qkv, const Tensor& probs, const Tensor& dropped, const Tensor& datt, int64_t B,
                        int64_t T, int64_t H, const DropoutRule* rule, Tensor& dprobs, Tensor& dqkv) {
  const int64_t hs = qkv.dim(1) / 3 / H, rows = B * H * T;
  check_fits(T, hs);
  if (rows == 0) return;
  backward_rows_kernel<<<blocks_for(rows), kThreads, row_shared(T, hs)>>>(
      qkv.data(), probs.data(), datt.data(), B, T, H, hs, 1.0f / std::sqrt(float(hs)), rule != nullptr,
      rule_or_none(rule), dprobs.data(), dqkv.data());
  PEER_CUDA_CHECK_LAUNCH();
  backward_keys_kernel<<<blocks_for(rows), kThreads, key_shared(T)>>>(qkv.data(), dropped.data(), dprobs.data(),
                                                                      datt.data(), B, T, H, hs, dqkv.data());
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
