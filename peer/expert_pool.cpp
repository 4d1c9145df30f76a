#include "peer/expert_pool.h"

#include "core/nn/init.h"

namespace peer {

ExpertPool::ExpertPool(const std::string& name, PoolShape s, int64_t d, int64_t d_key, float key_std,
                       float expert_std, uint64_t seed)
    : shape(s),
      keys1(Parameter::row_sparse(name + ".keys1", {s.n1, d_key / 2}, false)),
      keys2(Parameter::row_sparse(name + ".keys2", {s.n2, d_key / 2}, false)),
      U(Parameter::row_sparse(name + ".U", {s.size(), d}, false)),
      V(Parameter::row_sparse(name + ".V", {s.size(), d}, false)) {
  init_normal(keys1, key_std, seed);
  init_normal(keys2, key_std, seed);
  init_normal(U, expert_std, seed);
  init_normal(V, expert_std, seed);
}

void ExpertPool::collect_parameters(std::vector<Parameter*>& out) {
  out.push_back(&keys1);
  out.push_back(&keys2);
  out.push_back(&U);
  out.push_back(&V);
}

}  // namespace peer
