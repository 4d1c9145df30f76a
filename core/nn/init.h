// Weight initialisation schemes, selectable per model. Each parameter draws from its own Philox
// stream derived from its name, so initial values do not depend on construction order.
#pragma once

#include <cstdint>
#include <string>

#include "core/module.h"

namespace peer {

enum class InitScheme { Kaiming, Xavier, Normal };
InitScheme parse_init(const std::string& name);  // kaiming | xavier | normal; throws otherwise

// Fills p.value with N(0, std^2).
void init_normal(Parameter& p, float std, uint64_t seed);
// A linear weight (fan_out, fan_in): Kaiming-normal std = sqrt(2 / fan_in) (PyTorch's
// kaiming_normal_ defaults), Xavier-normal std = sqrt(2 / (fan_in + fan_out)), Normal std = 0.02.
void init_linear_weight(Parameter& p, InitScheme s, uint64_t seed);
// Embedding tables: N(0, 1) under kaiming/xavier (PyTorch's nn.Embedding default), N(0, 0.02)
// under normal (GPT-2).
void init_embedding(Parameter& p, InitScheme s, uint64_t seed);

}  // namespace peer
