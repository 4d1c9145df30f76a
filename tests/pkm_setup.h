// What the PKM / Memory+ tests (op_cases_pkm.cpp, test_pkm_layer.cpp) build their layers from.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "core/rng.h"
#include "peer/memory_plus.h"
#include "peer/memory_read.h"
#include "peer/pkm_layer.h"
#include "tests/gradcheck.h"

namespace peer {

struct MemoryShape {
  int64_t d, heads, top_k, d_key;
  PoolShape keys;
  int64_t value_dim;  // Memory+ only (PKM's rows are d wide)
  bool batchnorm, shared_keys, qk_norm;
  float dropout = 0.0f;
};

inline MemoryOptions memory_options(const MemoryShape& s) {
  MemoryOptions o;
  o.heads = s.heads;
  o.top_k = s.top_k;
  o.d_key = s.d_key;
  o.query_batchnorm = s.batchnorm;
  o.shared_keys = s.shared_keys;
  o.qk_norm = s.qk_norm;
  return o;
}

// Norm scales and shifts, and the gate's biases, away from their (1, 0) initial values so they matter.
inline void randomise(MemoryRead& r, uint64_t seed) {
  if (r.query_bn) {
    gradcheck::fill_normal(r.query_bn->weight.value, seed, 201, 0.3f, 1.0f);
    gradcheck::fill_normal(r.query_bn->bias.value, seed, 202, 0.2f);
  }
  if (r.query_norm) {
    gradcheck::fill_normal(r.query_norm->weight.value, seed, 203, 0.3f, 1.0f);
    gradcheck::fill_normal(r.query_norm->bias.value, seed, 204, 0.2f);
  }
}
inline void randomise(MemoryPlusLayer& L, uint64_t seed) {
  randomise(L.read, seed);
  gradcheck::fill_normal(L.gate.bias.value, seed, 205, 0.5f);
  gradcheck::fill_normal(L.out.bias.value, seed, 206, 0.5f);
}

inline std::unique_ptr<PkmLayer> make_pkm(const MemoryShape& s, uint64_t seed, const std::string& name = "pkm") {
  auto L = std::make_unique<PkmLayer>(name, s.d, memory_options(s), s.keys, s.dropout, InitScheme::Kaiming, seed,
                                      kStreamLayer);
  randomise(L->read, seed);
  return L;
}

// A Memory+ layer on `memory` (a fresh table of s.keys x s.value_dim when null), listing it when `lists`.
inline std::unique_ptr<MemoryPlusLayer> make_memory_plus(const MemoryShape& s, uint64_t seed,
                                                         std::shared_ptr<MemoryValues> memory = nullptr,
                                                         bool lists = true, const std::string& name = "mplus") {
  if (!memory) memory = std::make_shared<MemoryValues>(name, s.keys, s.value_dim, seed);
  auto L = std::make_unique<MemoryPlusLayer>(name, s.d, memory_options(s), memory, lists, s.dropout,
                                             InitScheme::Kaiming, seed, kStreamLayer);
  randomise(*L, seed);
  return L;
}

}  // namespace peer
