// The FFN slot of a transformer block: a layer on rows of width d, x (N, d) -> y (N, d), that
// the block calls after attention. Dense MLP, sparse MoE and PEER each implement it, so the
// model needs no knowledge of experts.
#pragma once

#include "core/module.h"

namespace peer {

class FfnSlot : public Module {
 public:
  virtual const Tensor& forward(const Tensor& x, bool train, uint64_t step) = 0;
  virtual const Tensor& backward(const Tensor& dy) = 0;
  // Auxiliary loss added to the training objective by the last forward (its gradient is
  // injected by backward). 0 for layers without one.
  virtual double aux_loss() const { return 0.0; }
  // Statistics of the last forward (accumulated since reset_stats for eval-time stats).
  virtual void stats(Stats& out) const {}
  virtual void reset_stats() {}
};

}  // namespace peer
