// Loss of a model in eval mode: on fixed batches of a run's splits, or over every token of a text.
#pragma once

#include <cstdint>
#include <utility>
#include <vector>

#include "core/data/text_dataset.h"
#include "core/nn/transformer.h"
#include "experiments/run/config.h"

namespace peer {

// Mean loss over `batches` fixed batches of a split (the same batches at every call), eval mode.
double estimate_loss(LanguageModel& model, const TextDataset& data, Split split, const Config& c, int64_t batches);

// Mean loss over all of `tokens`, cut into consecutive windows of T+1 tokens (full coverage,
// deterministic); batches of B windows. Returns {loss, tokens scored}.
std::pair<double, int64_t> sequential_loss(LanguageModel& model, const std::vector<int32_t>& tokens, int64_t B,
                                           int64_t T);

}  // namespace peer
