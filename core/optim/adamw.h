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
  void update_rows(Parameter& p, Moments& s, float lr, float c1, float c2);
  std::vector<Parameter*> params_;
  AdamWOptions opt_;
  int64_t t_ = 0;
  std::map<std::string, Moments> state_;
};

// Scales every trainable gradient (dense and row-sparse) so the global L2 norm is at most
// max_norm (no-op when max_norm <= 0). Returns the norm before clipping.
double clip_grad_norm(const std::vector<Parameter*>& params, double max_norm);

}  // namespace peer
