#include "peer/pkm_layer.h"

namespace peer {

PkmLayer::PkmLayer(const std::string& name, int64_t d, const MemoryOptions& o, PoolShape shape, float dropout,
                   InitScheme init, uint64_t seed, uint64_t stream)
    : read(name, d, o, std::make_shared<MemoryValues>(name, shape, d, seed), true, init, seed),
      name_(name),
      drop_(dropout, seed, stream) {}

const Tensor& PkmLayer::forward(const Tensor& x, bool train, uint64_t step) {
  drop_.forward(read.forward(x, train), y_, train, step);
  return y_;
}

const Tensor& PkmLayer::backward(const Tensor& dy) {
  drop_.backward(dy, dy_);
  return read.backward(dy_);
}

}  // namespace peer
