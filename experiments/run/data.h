// The tokenized corpus of a run: vocabulary from the text (or from a checkpoint when resuming,
// evaluating or sampling), split into train and validation.
#pragma once

#include <memory>
#include <optional>

#include "core/data/text_dataset.h"
#include "core/data/tokenizer.h"
#include "core/nn/transformer.h"
#include "experiments/run/config.h"

namespace peer {

struct RunData {
  Tokenizer tokenizer;
  std::unique_ptr<TextDataset> dataset;
};

// tok.encode(text), with an InputError naming `what` (a file, "--prompt") on an unknown byte.
std::vector<int32_t> encode_or_explain(const Tokenizer& tok, const std::string& text, const std::string& what);

// Throws InputError when files are missing, a byte is outside a given vocabulary, or a split is
// shorter than block_size + 1 tokens.
RunData load_run_data(const Config& c, const std::optional<Tokenizer>& vocab = std::nullopt);

// Mean loss over `batches` fixed batches of a split (the same batches at every call), eval mode.
double estimate_loss(LanguageModel& model, const TextDataset& data, Split split, const Config& c, int64_t batches);

// Generates `tokens` tokens after `prompt` (temperature, top_k <= 0 = all), seeded.
std::string sample_text(LanguageModel& model, const Tokenizer& tok, const std::string& prompt, int64_t tokens,
                        double temperature, int64_t top_k, uint64_t seed);

}  // namespace peer

namespace peer {
// Mean loss over all of `tokens`, cut into consecutive windows of T+1 tokens (full coverage,
// deterministic); batches of B windows. Returns {loss, tokens scored}.
std::pair<double, int64_t> sequential_loss(LanguageModel& model, const std::vector<int32_t>& tokens, int64_t B,
                                           int64_t T);
}  // namespace peer
