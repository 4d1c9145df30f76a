// The PEER layer's ops (peer/peer_layer.h), on either backend: the global top-k over the pools
// with the router softmax, the gather-compute-combine of the retrieved experts, its backward, the
// query gradient through the scores, and the row-sparse gradients of a pool's tables. CPU loops in
// peer/experts.cpp, kernels in peer/cuda/experts.cu; the math both run is peer/peer_math.h.
// Shapes: T tokens, h heads, k experts per head, A = T*h*k assignments (token, head, rank), d the
// model width, d_key the query width per head; tensors are on one device, outputs follow it.
#pragma once

#include <cstdint>
#include <vector>

#include "core/module.h"
#include "core/ops/activation_math.h"

namespace peer {

// One pool's tables as the ops read them (device pointers on CUDA).
struct PoolTable {
  const float* U;      // (n1*n2, d)
  const float* V;      // (n1*n2, d)
  const float* keys1;  // (n1, d_key/2)
  const float* keys2;  // (n2, d_key/2)
  int64_t n1, n2;
};

// The CUDA kernels take the pool tables as kernel parameters: at most this many pools.
constexpr int64_t kMaxCudaPools = 32;

// Global top-k per row over the pools: index[p], score[p] (Q, kp) pool p's own top list (local
// indices, best first); offset (P+1) the pools' first global indices. Writes pool, local, global
// (Q, k) I32, score (Q, k) and weight (Q, k) = softmax of each row's scores.
void merge_pools(const std::vector<Tensor>& index, const std::vector<Tensor>& score, const std::vector<int64_t>& offset,
                 int64_t k, Tensor& pool, Tensor& local, Tensor& global, Tensor& score_out, Tensor& weight);

// y_t = sum over token t's per_token = h*k assignments a of weight[a] * act(u_a . x_t) v_a.
// x (T, d); pool, local, weight (A) -> pre (A) = u_a . x_t, y (T, d).
void experts_forward(const std::vector<PoolTable>& pools, const Tensor& x, const Tensor& pool, const Tensor& local,
                     const Tensor& weight, int64_t per_token, Activation act, Tensor& pre, Tensor& y);

// Backward of experts_forward and of the router softmax (rows of k). dy (T, d) -> dx (T, d) (the
// experts' part), coef_u (A) = dL/d(u . x), coef_v (A) = weight * act, dscore (A) = dL/dscore.
void experts_backward(const std::vector<PoolTable>& pools, const Tensor& dy, const Tensor& pool, const Tensor& local,
                      const Tensor& weight, const Tensor& pre, int64_t per_token, int64_t k, Activation act,
                      Tensor& dx, Tensor& coef_u, Tensor& coef_v, Tensor& dscore);

// Scores s = q1 . C1[i1] + q2 . C2[i2]: dq (T*h, d_key) = sum over a row's k experts of dscore
// times the expert's sub-keys. pool, local, dscore (A) with A = rows * k.
void keys_backward(const std::vector<PoolTable>& pools, const Tensor& pool, const Tensor& local, const Tensor& dscore,
                   int64_t rows, int64_t k, int64_t d_key, Tensor& dq);

// Pool p's row-sparse gradients (accumulated): dU[local] += coef_u[a] x[a / per_token],
// dV[local] += coef_v[a] dy[a / per_token], dkeys1[local / n2] += dscore[a] q1[a / k],
// dkeys2[local % n2] += dscore[a] q2[a / k], over the assignments a with pool[a] == p.
// x, dy (T, d); q (T*h, d_key).
struct PoolGrads {
  RowSparseGrad *U, *V, *keys1, *keys2;
};
void pool_grads(int32_t p, const PoolTable& table, const Tensor& pool, const Tensor& local, const Tensor& coef_u,
                const Tensor& coef_v, const Tensor& dscore, const Tensor& x, const Tensor& dy, const Tensor& q,
                int64_t per_token, int64_t k, PoolGrads g);

// usage (N) I32 += 1 at each global index of global (A): retrieval counts for the statistics.
void count_usage(const Tensor& global, Tensor& usage);

namespace cuda {
void merge_pools(const std::vector<Tensor>& index, const std::vector<Tensor>& score, const std::vector<int64_t>& offset,
                 int64_t k, Tensor& pool, Tensor& local, Tensor& global, Tensor& score_out, Tensor& weight);
void experts_forward(const std::vector<PoolTable>& pools, const Tensor& x, const Tensor& pool, const Tensor& local,
                     const Tensor& weight, int64_t per_token, Activation act, Tensor& pre, Tensor& y);
void experts_backward(const std::vector<PoolTable>& pools, const Tensor& dy, const Tensor& pool, const Tensor& local,
                      const Tensor& weight, const Tensor& pre, int64_t per_token, int64_t k, Activation act,
                      Tensor& dx, Tensor& coef_u, Tensor& coef_v, Tensor& dscore);
void keys_backward(const std::vector<PoolTable>& pools, const Tensor& pool, const Tensor& local, const Tensor& dscore,
                   int64_t rows, int64_t k, int64_t d_key, Tensor& dq);
void pool_grads(int32_t p, const PoolTable& table, const Tensor& pool, const Tensor& local, const Tensor& coef_u,
                const Tensor& coef_v, const Tensor& dscore, const Tensor& x, const Tensor& dy, const Tensor& q,
                int64_t per_token, int64_t k, PoolGrads g);
void count_usage(const Tensor& global, Tensor& usage);
}  // namespace cuda

}  // namespace peer
