// What the PEER test files (test_peer_*.cpp, test_expert_pools.cpp, test_sparse_adamw.cpp) build
// their layers from, and how they compare results bit for bit.
#pragma once

#include <cstdint>
#include <cstring>

#include "core/tensor.h"
#include "peer/peer_layer.h"
#include "tests/gradcheck.h"

namespace peer {

inline PeerOptions options(int64_t heads, int64_t top_k, int64_t d_key, Activation act, bool bn) {
  PeerOptions o;
  o.heads = heads;
  o.top_k = top_k;
  o.d_key = d_key;
  o.activation = act;
  o.query_batchnorm = bn;
  return o;
}

// BatchNorm affine parameters away from their (1, 0) initial values so they matter.
inline void randomise_bn(PeerLayer& L, uint64_t seed) {
  if (!L.query_bn) return;
  gradcheck::fill_normal(L.query_bn->weight.value, seed, 201, 0.3f, 1.0f);
  gradcheck::fill_normal(L.query_bn->bias.value, seed, 202, 0.2f);
}

inline bool same_bits(const float* a, const float* b, int64_t n) {
  return n == 0 || std::memcmp(a, b, n * sizeof(float)) == 0;
}
inline bool same_bits(const Tensor& a, const Tensor& b) {
  return a.numel() == b.numel() && same_bits(a.data(), b.data(), a.numel());
}

}  // namespace peer
