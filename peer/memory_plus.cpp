#include "peer/memory_plus.h"

#include <cmath>
#include <stdexcept>

#include "core/ops/backend.h"

namespace peer {

namespace {
float sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }

std::shared_ptr<MemoryValues> checked(std::shared_ptr<MemoryValues> m) {
  if (!m) throw std::invalid_argument("[memory_plus] needs a value table");
  return m;
}
}  // namespace

MemoryPlusLayer::MemoryPlusLayer(const std::string& name, int64_t d, const MemoryOptions& o,
                                 std::shared_ptr<MemoryValues> memory, bool lists_memory, float dropout,
                                 InitScheme init, uint64_t seed, uint64_t stream)
    : read(name, d, o, checked(std::move(memory)), lists_memory, init, seed),
      gate(name + ".gate", d, read.value_dim(), true),
      out(name + ".out", read.value_dim(), d, true),
      name_(name),
      drop_(dropout, seed, stream) {
  gate.init(init, seed);
  out.init(init, seed);
}

void MemoryPlusLayer::collect_parameters(std::vector<Parameter*>& params) {
  read.collect_parameters(params);
  gate.collect_parameters(params);
  out.collect_parameters(params);
}

const Tensor& MemoryPlusLayer::forward(const Tensor& x, bool train, uint64_t step) {
  require_cpu(x, "[memory_plus forward]");
  y_ = &read.forward(x, train);
  pre_ = &gate.forward(x);
  const Tensor& pre = *pre_;
  gated_.resize(pre.shape());
  for (int64_t i = 0; i < pre.numel(); ++i) gated_[i] = (*y_)[i] * pre[i] * sigmoid(pre[i]);
  drop_.forward(out.forward(gated_), z_, train, step);
  return z_;
}

const Tensor& MemoryPlusLayer::backward(const Tensor& dz) {
  require_cpu(dz, "[memory_plus backward]");
  drop_.backward(dz, dz_);
  dgated_.copy_from(out.backward(dz_));
  const Tensor& pre = *pre_;
  dpre_.resize(pre.shape());
  for (int64_t i = 0; i < pre.numel(); ++i) {
    const float s = sigmoid(pre[i]), silu = pre[i] * s;
    dpre_[i] = dgated_[i] * (*y_)[i] * s * (1.0f + pre[i] * (1.0f - s));  // silu' = s (1 + z (1 - s))
    dgated_[i] *= silu;                                                    // now dL/dy
  }
  const Tensor& dx_read = read.backward(dgated_);
  const Tensor& dx_gate = gate.backward(dpre_);
  dx_.resize(dx_read.shape());
  for (int64_t i = 0; i < dx_.numel(); ++i) dx_[i] = dx_read[i] + dx_gate[i];
  return dx_;
}

}  // namespace peer
