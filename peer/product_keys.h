// Exact top-k retrieval over N = n1 * n2 experts with product keys (Lample et al. 2019).
// Expert (i1, i2) has index i1 * n2 + i2 and score q1 . C1[i1] + q2 . C2[i2], where q = [q1; q2]
// (d_key = 2 * half). Order: score descending, ties by expert index ascending. The product-key
// path takes the top-k of each half (same tie rule) and only the candidate pairs (a, b) of
// sorted positions with (a+1)(b+1) <= k (any other pair has k pairs at least as good); where
// float rounding could tie an excluded pair with the k-th score it falls back to brute force
// for that query, so its result is identical to brute force over all N sums. Sub-scores come
// from one shared kernel so the sums are bit-identical in both paths.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/tensor.h"

namespace peer {

struct KeyTables {
  const float* c1;  // (n1, half)
  const float* c2;  // (n2, half)
  int64_t n1, n2, half;
  int64_t size() const { return n1 * n2; }
};

// q: (Q, 2*half) rows with leading dimension ldq. Writes index (Q, k) and score (Q, k), best
// first. k <= min(n1 * n2, 4096). Batched over queries and multithreaded; scratch memory is
// allocated per call and per thread, never per query.
void product_key_topk(const float* q, int64_t Q, int64_t ldq, const KeyTables& keys, int64_t k, int32_t* index,
                      float* score);

// The same on tensors, on q's device (cuda::product_key_topk on CUDA): q (Q, 2*half) F32 ->
// index (Q, k) I32 and score (Q, k) F32, resized onto q's device; keys on that device too.
void product_key_topk(const Tensor& q, const KeyTables& keys, int64_t k, Tensor& index, Tensor& score);

// The oracle: exact top-k over all n1 * n2 scores, same order and tie rule.
void brute_force_topk(const float* q, int64_t Q, int64_t ldq, const KeyTables& keys, int64_t k, int32_t* index,
                      float* score);

// Sub-scores s1 = q1 C1^T (rows, n1) and s2 = q2 C2^T (rows, n2) for `rows` queries: the one
// kernel both paths use.
void sub_scores(const float* q, int64_t rows, int64_t ldq, const KeyTables& keys, float* s1, float* s2);

namespace cuda {
// The same retrieval on the GPU (peer/cuda/product_keys.cu): q (Q, 2*half) F32 on CUDA, keys on
// device pointers; index (Q, k) I32 and score (Q, k) F32 are resized onto CUDA. k <= min(N, 64).
// Sub-scores come from cuBLAS, so the sums differ from the CPU's in the last bits; the exactness
// statement is per backend: for the same q, product_key_topk returns exactly what
// brute_force_topk returns (indices and score bits), the top k of the sums of these sub-scores.
void product_key_topk(const Tensor& q, const KeyTables& keys, int64_t k, Tensor& index, Tensor& score);
void brute_force_topk(const Tensor& q, const KeyTables& keys, int64_t k, Tensor& index, Tensor& score);

// For `peer bench retrieval`: milliseconds the device spends on the work fn() launches (CUDA
// events around it on the tensors' stream; waits for it), and the theoretical peak memory
// bandwidth of device 0 in bytes/s (2 * memory clock * bus width, as the device reports them).
double device_ms(const std::function<void()>& fn);
double peak_bandwidth();
}  // namespace cuda

}  // namespace peer
