// Embedding table lookup: y[i] = W[ids[i]].
#pragma once

#include "core/module.h"

namespace peer {

class Embedding : public Module {
 public:
  Embedding(const std::string& name, int64_t num, int64_t dim);
  const Tensor& forward(const int32_t* ids, int64_t n);  // -> (n, dim)
  void backward(const Tensor& dy);                        // W.grad rows += dy rows
  void collect_parameters(std::vector<Parameter*>& out) override { out.push_back(&weight); }
  int64_t num() const { return weight.value.dim(0); }

  Parameter weight;  // (num, dim)

 private:
  std::vector<int32_t> ids_;
  Tensor y_;
};

}  // namespace peer
