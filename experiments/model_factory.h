// Builds the language model a Config describes.
#pragma once

#include <memory>

#include "core/nn/transformer.h"
#include "experiments/config.h"

namespace peer {

std::unique_ptr<LanguageModel> build_model(const Config& c, int64_t vocab_size);
int64_t count_parameters(LanguageModel& m);

}  // namespace peer
