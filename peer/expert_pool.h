// One pool of single-neuron experts with its own product keys: expert i = (i1, i2) has
// sub-keys C1[i1], C2[i2] and weights u_i (down) and v_i (up) in R^d. All four tables are
// row-sparse parameters: a step touches only the retrieved rows. A frozen pool gets no gradient
// and no optimizer state.
#pragma once

#include "core/module.h"
#include "peer/product_keys.h"

namespace peer {

struct PoolShape {
  int64_t n1 = 128, n2 = 128;
  int64_t size() const { return n1 * n2; }
};

class ExpertPool : public Module {
 public:
  ExpertPool(const std::string& name, PoolShape shape, int64_t d, int64_t d_key, float key_std, float expert_std,
             uint64_t seed);
  void collect_parameters(std::vector<Parameter*>& out) override;
  KeyTables keys() const { return {keys1.value.data(), keys2.value.data(), shape.n1, shape.n2, keys1.value.dim(1)}; }
  bool frozen() const { return keys1.frozen; }

  PoolShape shape;
  Parameter keys1;  // (n1, d_key/2)
  Parameter keys2;  // (n2, d_key/2)
  Parameter U;      // (n1*n2, d)
  Parameter V;      // (n1*n2, d)
};

}  // namespace peer
