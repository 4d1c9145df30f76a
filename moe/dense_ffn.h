// The dense FFN slot: Linear(d, d_ff) -> activation -> Linear(d_ff, d) -> dropout.
// Granularity G = d_ff / d_expert compares MoE variants against this block.
#pragma once

#include "core/nn/dropout.h"
#include "core/nn/ffn_slot.h"
#include "core/nn/linear.h"
#include "core/ops/activation.h"

namespace peer {

class DenseFFN : public FfnSlot {
 public:
  DenseFFN(const std::string& name, int64_t d, int64_t d_ff, Activation act, float dropout, InitScheme init,
           uint64_t seed, uint64_t stream);
  const Tensor& forward(const Tensor& x, bool train, uint64_t step) override;
  const Tensor& backward(const Tensor& dy) override;
  void collect_parameters(std::vector<Parameter*>& out) override;

  Linear fc, out;

 private:
  Activation act_;
  Dropout drop_;
  const Tensor* pre_ = nullptr;  // (N, d_ff) fc output, owned by fc
  Tensor hidden_;                // (N, d_ff) act(pre)
  Tensor y_;                     // (N, d)
  Tensor dy_, dhidden_;
};

}  // namespace peer
