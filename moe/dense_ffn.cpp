#include "moe/dense_ffn.h"

namespace peer {

DenseFFN::DenseFFN(const std::string& name, int64_t d, int64_t d_ff, Activation act, float dropout,
                   InitScheme init, uint64_t seed, uint64_t stream)
    : fc(name + ".fc", d, d_ff, true), out(name + ".out", d_ff, d, true), act_(act), drop_(dropout, seed, stream) {
  fc.init(init, seed);
  out.init(init, seed);
}

const Tensor& DenseFFN::forward(const Tensor& x, bool train, uint64_t step) {
  pre_ = &fc.forward(x);
  activation_forward(act_, *pre_, hidden_);
  const Tensor& o = out.forward(hidden_);
  drop_.forward(o, y_, train, step);
  return y_;
}

const Tensor& DenseFFN::backward(const Tensor& dy) {
  drop_.backward(dy, dy_);
  activation_backward(act_, *pre_, out.backward(dy_), dhidden_);
  return fc.backward(dhidden_);
}

void DenseFFN::collect_parameters(std::vector<Parameter*>& out_params) {
  fc.collect_parameters(out_params);
  out.collect_parameters(out_params);
}

}  // namespace peer
