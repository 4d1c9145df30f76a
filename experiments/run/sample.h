// Text generation from a trained model.
#pragma once

#include <cstdint>
#include <string>

#include "core/data/tokenizer.h"
#include "core/nn/transformer.h"

namespace peer {

// Generates `tokens` tokens after `prompt` (temperature, top_k <= 0 = all), seeded; fewer when
// an interrupt (interrupt.h) stops it. Logits holding a NaN or an infinity: NonFiniteError.
std::string sample_text(LanguageModel& model, const Tokenizer& tok, const std::string& prompt, int64_t tokens,
                        double temperature, int64_t top_k, uint64_t seed);

}  // namespace peer
