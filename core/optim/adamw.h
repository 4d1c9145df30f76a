// AdamW (Loshchilov & Hutter 2019): Adam with weight decay decoupled from the gradient,
// p -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * p). Weight decay only on parameters whose
// `decay` flag is set (by default not norms, biases, embeddings). Frozen parameters are skipped
// and get no state.
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

 private:
  std::vector<Parameter*> params_;
  AdamWOptions opt_;
  int64_t t_ = 0;
  std::map<std::string, Moments> state_;
};

// Scales every non-frozen gradient so the global L2 norm is at most max_norm (no-op when
// max_norm <= 0). Returns the norm before clipping.
double clip_grad_norm(const std::vector<Parameter*>& params, double max_norm);

}  // namespace peer
