// Embedding table lookup: y[i] = W[ids[i]] (core/ops/embedding.h), on the table's device.
#pragma once

#include "core/module.h"

namespace peer {

class Embedding : public Module {
 public:
  Embedding(const std::string& name, int64_t num, int64_t dim);
  // ids (n) I32 on any device (kept, on the table's device, for backward) -> (n, dim) on the
  // table's device. Host ids outside [0, num) throw std::out_of_range.
  const Tensor& forward(const Tensor& ids);
  const Tensor& forward(const int32_t* ids, int64_t n);  // host ids
  void backward(const Tensor& dy);                        // W.grad rows += dy rows
  void collect_parameters(std::vector<Parameter*>& out) override { out.push_back(&weight); }
  int64_t num() const { return weight.value.dim(0); }

  Parameter weight;  // (num, dim)

 private:
  void check_ids(const int32_t* id, int64_t n) const;  // host ids: out_of_range unless in [0, num)
  Tensor ids_;  // (n) I32 on the table's device
  Tensor y_;    // (n, dim)
};

}  // namespace peer
