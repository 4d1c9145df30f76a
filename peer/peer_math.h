// The PEER layer's per-row and per-expert math, shared by the CPU loops (peer/experts.cpp) and the
// CUDA kernels (peer/cuda/experts.cu): see core/host_device.h.
#pragma once

#include <math.h>

#include <cstdint>

#include "core/host_device.h"
#include "core/ops/activation_math.h"
#include "peer/topk_merge.h"

namespace peer {

// Where the rows' retrieval over several pools reads from: pool p's top lists (Q rows of kp[p]
// experts each, best first, local indices) and the global index of its first expert.
struct PoolLists {
  const int32_t* const* index;  // (P) pointers to (Q, kp[p]) local indices
  const float* const* score;    // (P) pointers to (Q, kp[p]) scores
  const int64_t* kp;            // (P)
  const int64_t* offset;        // (P + 1): pool p holds global indices [offset[p], offset[p+1])
  int64_t count;                // P
};

// The global top k of row r over every pool (score desc, global index asc: TopList's rule),
// with each expert's pool and local index; out (empty, capacity k) takes scores and global
// indices.
PEER_HD void merge_pools_row(const PoolLists& in, int64_t r, TopList& out, int32_t* pool, int32_t* local) {
  for (int64_t p = 0; p < in.count; ++p)
    for (int64_t j = r * in.kp[p]; j < (r + 1) * in.kp[p]; ++j)
      out.offer(in.score[p][j], int32_t(in.offset[p] + in.index[p][j]));
  for (int64_t j = 0; j < out.size; ++j) {
    int64_t p = 0;
    while (out.index[j] >= in.offset[p + 1]) ++p;
    pool[j] = int32_t(p);
    local[j] = int32_t(out.index[j] - in.offset[p]);
  }
}

// Router weights: w = softmax of a row's k scores, best first (score[0] is the largest).
PEER_HD void softmax_topk(const float* score, float* w, int64_t k) {
  const float mx = score[0];
  float sum = 0.0f;
  for (int64_t j = 0; j < k; ++j) sum += (w[j] = expf(score[j] - mx));
  for (int64_t j = 0; j < k; ++j) w[j] /= sum;
}

// Softmax backward over a row of k weights: dw (dL/dw in) becomes dL/dscore = w * (dw - sum(w dw)).
PEER_HD void softmax_topk_backward(const float* w, float* dw, int64_t k) {
  float s = 0.0f;
  for (int64_t j = 0; j < k; ++j) s += w[j] * dw[j];
  for (int64_t j = 0; j < k; ++j) dw[j] = w[j] * (dw[j] - s);
}

// One retrieved expert's backward, from its pre-activation u . x, router weight w and v . dy:
//   du  dL/d(u . x): the coefficient of x in dU's row and of u in dx
//   dv  w * act: the coefficient of dy in dV's row
//   dw  dL/dw (softmax_topk_backward turns it into dL/dscore)
struct ExpertGrad {
  float du, dv, dw;
};
PEER_HD ExpertGrad expert_backward(Activation act, float pre, float w, float vd) {
  const float a = activation_value(act, pre);
  return {w * vd * activation_derivative(act, pre), w * a, a * vd};
}

}  // namespace peer
