// The product-key memory layer as an FFN slot (ffn = "pkm"; Lample et al. 2019): the memory
// read-out (memory_read.h) of value rows as wide as the model, then the output dropout the dense,
// MoE and PEER slots apply. One expert is one value row: granularity G = heads x top_k.
#pragma once

#include <memory>

#include "core/nn/dropout.h"
#include "core/nn/ffn_slot.h"
#include "peer/memory_read.h"

namespace peer {

class PkmLayer : public FfnSlot {
 public:
  // stream: the Philox stream of the output dropout (used when dropout > 0).
  PkmLayer(const std::string& name, int64_t d, const MemoryOptions& o, PoolShape shape, float dropout,
           InitScheme init, uint64_t seed, uint64_t stream = 0);
  const Tensor& forward(const Tensor& x, bool train, uint64_t step) override;  // (T, d) -> (T, d)
  const Tensor& backward(const Tensor& dy) override;
  void collect_parameters(std::vector<Parameter*>& out) override { read.collect_parameters(out); }
  void stats(Stats& out) const override { read.stats(name_, out); }
  void reset_stats() override { read.reset_stats(); }

  MemoryRead read;

 private:
  std::string name_;
  Dropout drop_;
  Tensor y_, dy_;  // (T, d)
};

}  // namespace peer
