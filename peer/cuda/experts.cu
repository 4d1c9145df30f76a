// CUDA implementation of peer/experts.h. The pools' table pointers travel as kernel parameters
// (at most kMaxCudaPools pools). Every result is computed in a fixed order by one thread, warp or
// block (warp sums by a xor butterfly, then sums over a token's experts in assignment order), and
// the row-sparse gradients come from the sort-and-segment scatter of core/sparse_rows.h: no
// float atomics, the same bits run after run.
//   merge_pools       thread per (token, head) row: merge_pools_row + softmax_topk (peer_math.h).
//   experts_forward   block per token: warp per assignment for u . x (x in shared memory), then
//                     each thread a column of y = sum_a w_a act(u_a . x) v_a over the token's
//                     assignments. Reads only the retrieved rows of U and V.
//   experts_backward  block per token: warp per assignment for v . dy, expert_backward, the
//                     softmax backward per head, then dx's columns = sum_a du_a u_a.
//   keys_backward     block per (token, head) row, a thread per query element.
#include <stdexcept>
#include <string>

#include "core/ops/cuda/launch.cuh"
#include "core/sparse_rows.h"
#include "peer/experts.h"
#include "peer/peer_math.h"

namespace peer::cuda {

namespace {

constexpr int kWarp = 32;
constexpr int kTokenThreads = 256;  // 8 warps per token
constexpr int kMaxBlocks = 65535;
constexpr int kMaxK = 64;  // a row's merged list lives in registers / local memory
constexpr size_t kMaxShared = 48 * 1024;

struct Tables {
  const float* U[kMaxCudaPools];
  const float* V[kMaxCudaPools];
  const float* keys1[kMaxCudaPools];
  const float* keys2[kMaxCudaPools];
  int64_t n2[kMaxCudaPools];
};

struct Lists {
  const int32_t* index[kMaxCudaPools];
  const float* score[kMaxCudaPools];
  int64_t kp[kMaxCudaPools];
  int64_t offset[kMaxCudaPools + 1];
  int64_t count;
};

void check_pools(size_t count, const char* op) {
  if (count < 1 || int64_t(count) > kMaxCudaPools)
    throw std::invalid_argument(std::string("[") + op + "] the CUDA PEER layer takes 1 to " +
                                std::to_string(kMaxCudaPools) + " pools, got " + std::to_string(count));
}

Tables make_tables(const std::vector<PoolTable>& pools, const char* op) {
  check_pools(pools.size(), op);
  Tables t{};
  for (size_t p = 0; p < pools.size(); ++p) {
    t.U[p] = pools[p].U;
    t.V[p] = pools[p].V;
    t.keys1[p] = pools[p].keys1;
    t.keys2[p] = pools[p].keys2;
    t.n2[p] = pools[p].n2;
  }
  return t;
}

// Dynamic shared memory of a token block: per_token row pointers, then floats.
size_t token_shared(int64_t per_token, int64_t floats, const char* op) {
  const size_t bytes = size_t(per_token) * sizeof(const float*) + size_t(floats) * sizeof(float);
  if (bytes > kMaxShared)
    throw std::invalid_argument(std::string("[") + op + "] d and heads * top_k need " + std::to_string(bytes) +
                                " bytes of shared memory per token, more than " + std::to_string(kMaxShared));
  return bytes;
}

__device__ float warp_sum(float v) {
  for (int offset = kWarp / 2; offset > 0; offset /= 2) v += __shfl_xor_sync(0xffffffffu, v, offset);
  return v;
}

__global__ void merge_kernel(const __grid_constant__ Lists in, int64_t Q, int64_t k, int32_t* pool, int32_t* local,
                             int32_t* global, float* score, float* weight) {
  const PoolLists lists{in.index, in.score, in.kp, in.offset, in.count};
  for (int64_t r = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; r < Q; r += int64_t(gridDim.x) * blockDim.x) {
    float s[kMaxK];
    int32_t g[kMaxK];
    TopList out{s, g, 0, k};
    merge_pools_row(lists, r, out, pool + r * k, local + r * k);
    softmax_topk(s, weight + r * k, k);
    for (int64_t j = 0; j < k; ++j) {
      score[r * k + j] = s[j];
      global[r * k + j] = g[j];
    }
  }
}

__global__ void forward_kernel(const __grid_constant__ Tables tb, const float* x, const int32_t* pool,
                               const int32_t* local, const float* weight, int64_t T, int64_t d, int64_t per_token,
                               Activation act, float* pre, float* y) {
  extern __shared__ __align__(16) unsigned char shared[];
  const float** vrow = reinterpret_cast<const float**>(shared);        // (per_token)
  float* xs = reinterpret_cast<float*>(shared + per_token * sizeof(const float*));  // (d)
  float* coef = xs + d;                                                 // (per_token)
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, warps = blockDim.x / kWarp;
  for (int64_t t = blockIdx.x; t < T; t += gridDim.x) {
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) xs[j] = x[t * d + j];
    __syncthreads();
    for (int64_t i = warp; i < per_token; i += warps) {
      const int64_t a = t * per_token + i, row = int64_t(local[a]) * d;
      const float* u = tb.U[pool[a]] + row;
      float s = 0.0f;
      for (int64_t j = lane; j < d; j += kWarp) s += u[j] * xs[j];
      s = warp_sum(s);
      if (lane == 0) {
        pre[a] = s;
        coef[i] = weight[a] * activation_value(act, s);
        vrow[i] = tb.V[pool[a]] + row;
      }
    }
    __syncthreads();
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
      float acc = 0.0f;
      for (int64_t i = 0; i < per_token; ++i) acc += coef[i] * vrow[i][j];
      y[t * d + j] = acc;
    }
    __syncthreads();  // xs, coef and vrow are the next token's
  }
}

__global__ void backward_kernel(const __grid_constant__ Tables tb, const float* dy, const int32_t* pool,
                                const int32_t* local, const float* weight, const float* pre, int64_t T, int64_t d,
                                int64_t per_token, int64_t k, Activation act, float* dx, float* coef_u,
                                float* coef_v, float* dscore) {
  extern __shared__ __align__(16) unsigned char shared[];
  const float** urow = reinterpret_cast<const float**>(shared);        // (per_token)
  float* gs = reinterpret_cast<float*>(shared + per_token * sizeof(const float*));  // (d)
  float* du = gs + d;                                                   // (per_token)
  float* dw = du + per_token;                                           // (per_token)
  const int warp = threadIdx.x / kWarp, lane = threadIdx.x % kWarp, warps = blockDim.x / kWarp;
  for (int64_t t = blockIdx.x; t < T; t += gridDim.x) {
    const int64_t a0 = t * per_token;
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) gs[j] = dy[t * d + j];
    __syncthreads();
    for (int64_t i = warp; i < per_token; i += warps) {
      const int64_t a = a0 + i, row = int64_t(local[a]) * d;
      const float* v = tb.V[pool[a]] + row;
      float s = 0.0f;
      for (int64_t j = lane; j < d; j += kWarp) s += v[j] * gs[j];
      s = warp_sum(s);
      if (lane == 0) {
        const ExpertGrad g = expert_backward(act, pre[a], weight[a], s);
        du[i] = g.du;
        dw[i] = g.dw;
        coef_u[a] = g.du;
        coef_v[a] = g.dv;
        urow[i] = tb.U[pool[a]] + row;
      }
    }
    __syncthreads();
    for (int64_t r = threadIdx.x; r < per_token / k; r += blockDim.x)
      softmax_topk_backward(weight + a0 + r * k, dw + r * k, k);
    __syncthreads();
    for (int64_t i = threadIdx.x; i < per_token; i += blockDim.x) dscore[a0 + i] = dw[i];
    for (int64_t j = threadIdx.x; j < d; j += blockDim.x) {
      float acc = 0.0f;
      for (int64_t i = 0; i < per_token; ++i) acc += du[i] * urow[i][j];
      dx[t * d + j] = acc;
    }
    __syncthreads();
  }
}

__global__ void keys_backward_kernel(const __grid_constant__ Tables tb, const int32_t* pool, const int32_t* local,
                                     const float* dscore, int64_t rows, int64_t k, int64_t d_key, float* dq) {
  const int64_t half = d_key / 2;
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x)
    for (int64_t j = threadIdx.x; j < d_key; j += blockDim.x) {
      float acc = 0.0f;
      for (int64_t a = r * k; a < (r + 1) * k; ++a) {
        const int p = pool[a];
        const int64_t n2 = tb.n2[p];
        const float* c = j < half ? tb.keys1[p] + (local[a] / n2) * half + j
                                  : tb.keys2[p] + (local[a] % n2) * half + j - half;
        acc += dscore[a] * *c;
      }
      dq[r * d_key + j] = acc;
    }
}

// Scatter targets of pool p: expert row (U, V), sub-key rows (keys1, keys2); -1 for other pools.
__global__ void targets_kernel(const int32_t* pool, const int32_t* local, int64_t A, int32_t p, int64_t n2,
                               int32_t* expert, int32_t* row1, int32_t* row2) {
  for (int64_t a = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; a < A; a += int64_t(gridDim.x) * blockDim.x) {
    const bool mine = pool[a] == p;
    const int32_t l = local[a];
    expert[a] = mine ? l : -1;
    row1[a] = mine ? int32_t(l / n2) : -1;
    row2[a] = mine ? int32_t(l % n2) : -1;
  }
}

// Integer atomics: the counts do not depend on the order of the additions.
__global__ void usage_kernel(const int32_t* global, int64_t A, int32_t* usage) {
  for (int64_t a = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; a < A; a += int64_t(gridDim.x) * blockDim.x)
    atomicAdd(usage + global[a], 1);
}

int blocks(int64_t n) { return int(std::min<int64_t>(std::max<int64_t>(n, 1), kMaxBlocks)); }

}  // namespace

void merge_pools(const std::vector<Tensor>& index, const std::vector<Tensor>& score, const std::vector<int64_t>& offset,
                 int64_t k, Tensor& pool, Tensor& local, Tensor& global, Tensor& score_out, Tensor& weight) {
  check_pools(score.size(), "peer.merge_pools");
  if (k < 1 || k > kMaxK)
    throw std::invalid_argument("[peer.merge_pools] top_k = " + std::to_string(k) + " must be in [1, 64] on CUDA");
  const int64_t Q = score[0].dim(0);
  Lists in{};
  in.count = int64_t(score.size());
  for (int64_t p = 0; p < in.count; ++p) {
    in.index[p] = index[p].data_i32();
    in.score[p] = score[p].data();
    in.kp[p] = score[p].dim(1);
  }
  for (int64_t p = 0; p <= in.count; ++p) in.offset[p] = offset[p];
  for (Tensor* t : {&pool, &local, &global}) t->resize({Q, k}, Device::CUDA, DType::I32);
  score_out.resize({Q, k}, Device::CUDA);
  weight.resize({Q, k}, Device::CUDA);
  if (Q == 0) return;
  merge_kernel<<<grid_size(Q, 128), 128>>>(in, Q, k, pool.data_i32(), local.data_i32(), global.data_i32(),
                                           score_out.data(), weight.data());
  PEER_CUDA_CHECK_LAUNCH();
}

void experts_forward(const std::vector<PoolTable>& pools, const Tensor& x, const Tensor& pool, const Tensor& local,
                     const Tensor& weight, int64_t per_token, Activation act, Tensor& pre, Tensor& y) {
  const Tables tb = make_tables(pools, "peer.experts_forward");
  const int64_t T = x.dim(0), d = x.dim(1);
  y.resize({T, d}, Device::CUDA);
  pre.resize({T * per_token}, Device::CUDA);
  if (T == 0) return;
  const size_t shared = token_shared(per_token, d + per_token, "peer.experts_forward");
  forward_kernel<<<blocks(T), kTokenThreads, shared>>>(tb, x.data(), pool.data_i32(), local.data_i32(), weight.data(),
                                                        T, d, per_token, act, pre.data(), y.data());
  PEER_CUDA_CHECK_LAUNCH();
}

void experts_backward(const std::vector<PoolTable>& pools, const Tensor& dy, const Tensor& pool, const Tensor& local,
                      const Tensor& weight, const Tensor& pre, int64_t per_token, int64_t k, Activation act,
                      Tensor& dx, Tensor& coef_u, Tensor& coef_v, Tensor& dscore) {
  const Tables tb = make_tables(pools, "peer.experts_backward");
  const int64_t T = dy.dim(0), d = dy.dim(1), A = T * per_token;
  dx.resize({T, d}, Device::CUDA);
  for (Tensor* t : {&coef_u, &coef_v, &dscore}) t->resize({A}, Device::CUDA);
  if (T == 0) return;
  const size_t shared = token_shared(per_token, d + 2 * per_token, "peer.experts_backward");
  backward_kernel<<<blocks(T), kTokenThreads, shared>>>(tb, dy.data(), pool.data_i32(), local.data_i32(),
                                                         weight.data(), pre.data(), T, d, per_token, k, act, dx.data(),
                                                         coef_u.data(), coef_v.data(), dscore.data());
  PEER_CUDA_CHECK_LAUNCH();
}

void keys_backward(const std::vector<PoolTable>& pools, const Tensor& pool, const Tensor& local, const Tensor& dscore,
                   int64_t rows, int64_t k, int64_t d_key, Tensor& dq) {
  const Tables tb = make_tables(pools, "peer.keys_backward");
  dq.resize({rows, d_key}, Device::CUDA);
  if (rows == 0) return;
  keys_backward_kernel<<<blocks(rows), 128>>>(tb, pool.data_i32(), local.data_i32(), dscore.data(), rows, k, d_key,
                                              dq.data());
  PEER_CUDA_CHECK_LAUNCH();
}

void pool_grads(int32_t p, const PoolTable& table, const Tensor& pool, const Tensor& local, const Tensor& coef_u,
                const Tensor& coef_v, const Tensor& dscore, const Tensor& x, const Tensor& dy, const Tensor& q,
                int64_t per_token, int64_t k, PoolGrads g) {
  const int64_t A = pool.numel(), d = x.dim(1), dk = q.dim(1), half = dk / 2;
  if (A == 0) return;
  Tensor expert({A}, Device::CUDA, DType::I32), row1({A}, Device::CUDA, DType::I32),
      row2({A}, Device::CUDA, DType::I32);
  targets_kernel<<<grid_size(A), kThreads>>>(pool.data_i32(), local.data_i32(), A, p, table.n2, expert.data_i32(),
                                             row1.data_i32(), row2.data_i32());
  PEER_CUDA_CHECK_LAUNCH();
  const int64_t N = table.n1 * table.n2;
  scatter_rows(expert.data_i32(), coef_u.data(), A, per_token, x.data(), d, d, N, *g.U);
  scatter_rows(expert.data_i32(), coef_v.data(), A, per_token, dy.data(), d, d, N, *g.V);
  scatter_rows(row1.data_i32(), dscore.data(), A, k, q.data(), dk, half, table.n1, *g.keys1);
  scatter_rows(row2.data_i32(), dscore.data(), A, k, q.data() + half, dk, half, table.n2, *g.keys2);
}

void count_usage(const Tensor& global, Tensor& usage) {
  const int64_t A = global.numel();
  if (A == 0) return;
  usage_kernel<<<grid_size(A), kThreads>>>(global.data_i32(), A, usage.data_i32());
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
