// Memory+ ("Memory Layers at Scale", Berges et al. 2024) as an FFN slot (ffn = "memory_plus"):
//   y = the product-key memory read-out of x (memory_read.h; qk-normalisation by default),
//   out = dropout(W2 (y * silu(W1 x + b1)) + b2)
// with W1 (value_dim, d) and W2 (d, value_dim): an input-dependent gate on the memory read. The
// value table may be shared by every Memory+ layer of a model (the paper's shared memory pool):
// build the first layer with a fresh table, the others with the same one.
#pragma once

#include <memory>

#include "core/nn/dropout.h"
#include "core/nn/ffn_slot.h"
#include "core/nn/linear.h"
#include "peer/memory_read.h"

namespace peer {

class MemoryPlusLayer : public FfnSlot {
 public:
  // memory: the value table (its width is the gate's); lists_memory: whether this layer lists it
  // among its parameters (exactly one of the layers sharing a table does). stream: the Philox
  // stream of the output dropout.
  MemoryPlusLayer(const std::string& name, int64_t d, const MemoryOptions& o, std::shared_ptr<MemoryValues> memory,
                  bool lists_memory, float dropout, InitScheme init, uint64_t seed, uint64_t stream = 0);
  const Tensor& forward(const Tensor& x, bool train, uint64_t step) override;  // (T, d) -> (T, d)
  const Tensor& backward(const Tensor& dy) override;
  void collect_parameters(std::vector<Parameter*>& out) override;
  void stats(Stats& out) const override { read.stats(name_, out); }
  void reset_stats() override { read.reset_stats(); }

  MemoryRead read;
  Linear gate;  // W1: d -> value_dim
  Linear out;   // W2: value_dim -> d

 private:
  std::string name_;
  Dropout drop_;
  const Tensor* y_ = nullptr;    // (T, value_dim) the memory read-out, owned by read
  const Tensor* pre_ = nullptr;  // (T, value_dim) W1 x + b1, owned by gate
  Tensor gated_;                 // (T, value_dim) y * silu(W1 x + b1)
  Tensor dgated_;                // (T, value_dim) dL/d(W2's input), then dL/dy
  Tensor dpre_;                  // (T, value_dim) dL/d(W1 x + b1)
  Tensor z_, dz_, dx_;           // (T, d): W2's output after dropout, its gradient, dL/dx
};

}  // namespace peer
