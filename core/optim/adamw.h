// AdamW (Loshchilov & Hutter 2019): Adam with weight decay decoupled from the gradient,
// p -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * p). Weight decay only on parameters whose
// `decay` flag is set (by default not norms, biases, embeddings). Frozen parameters and buffers
// are skipped and get no state.
//
// Row-sparse parameters (expert tables) have two modes:
//   lazy (default)  only the rows with a gradient this step are updated: their m and v decay
//                   and take the gradient, their weights move and decay. Rows not touched keep
//                   weights, m and v unchanged (PyTorch SparseAdam's semantics, plus decoupled
//                   decay on touched rows). Bias correction uses the global step count. Cost
//                   per step is O(touched rows), never O(N).
//   dense           exact Adam: every row's m and v decay each step, untouched rows with a zero
//                   gradient (so their weights keep moving on momentum). O(N) per step: the
//                   baseline the lazy mode is compared with.
//
// Parameters and moments live on one device (Module::to, AdamW::to); the update is the adamw op
// (core/ops/adamw.h) there. On CUDA a step queues a few launches and does not wait for the GPU;
// a row-sparse gradient in the device layout (core/module.h: what GPU backwards write) is
// updated over its slots, padded slots skipped, so the count of touched rows is never read back.
// Only a gradient built from host rows (RowSparseGrad::accumulate) has its rows copied over,
// which waits for the work queued before.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "core/module.h"

namespace peer {

struct AdamWOptions {
  float beta1 = 0.9f;
  float beta2 = 0.999f;
  float eps = 1e-8f;
  float weight_decay = 0.1f;
  bool lazy_sparse = true;
};

class AdamW {
 public:
  AdamW(std::vector<Parameter*> params, AdamWOptions opt);
  void step(float lr);
  int64_t steps() const { return t_; }

  // State for checkpoints: first/second moments keyed by parameter name.
  struct Moments {
    Tensor m, v;
  };
  std::map<std::string, Moments>& state() { return state_; }
  void set_steps(int64_t t) { t_ = t; }
  // Takes over the step count and the moments of every parameter both optimizers train (by
  // name), e.g. after pools were added or frozen and a new optimizer was built.
  void adopt_state(AdamW& old);
  // Moves the moments to device d (with Module::to for the parameters).
  void to(Device d);

 private:
  std::vector<Parameter*> params_;
  AdamWOptions opt_;
  int64_t t_ = 0;
  std::map<std::string, Moments> state_;
};

// Scales every trainable gradient (dense and row-sparse, all on one device) so the global L2
// norm is at most max_norm (no-op when max_norm <= 0), with the grad_norm op
// (core/ops/grad_norm.h). Returns the norm before clipping: on CUDA this waits for the GPU to
// finish the work queued so far, to bring the norm to the host.
double clip_grad_norm(const std::vector<Parameter*>& params, double max_norm);
// The same without waiting: the norm before clipping is left in norm ((1), f32, on the
// gradients' device).
void clip_grad_norm(const std::vector<Parameter*>& params, double max_norm, Tensor& norm);

}  // namespace peer
