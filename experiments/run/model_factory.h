// Builds the language model a Config describes.
#pragma once

#include <memory>

#include "core/nn/transformer.h"
#include "experiments/run/config.h"
#include "moe/sparse_moe.h"
#include "peer/memory_read.h"
#include "peer/peer_layer.h"

namespace peer {

MoEOptions moe_options(const Config& c);
PeerOptions peer_options(const Config& c);
// The memory of ffn = pkm and memory_plus ([pkm], plus memory_plus.qk_norm for memory_plus).
MemoryOptions memory_options(const Config& c);
std::unique_ptr<LanguageModel> build_model(const Config& c, int64_t vocab_size);
// Trained and frozen parameters; buffers (BatchNorm running statistics) are not counted.
int64_t count_parameters(LanguageModel& m);

}  // namespace peer
