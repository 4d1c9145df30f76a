// The tokenized corpus of a run: vocabulary from the text (or from a checkpoint when resuming,
// evaluating or sampling), split into train and validation.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/data/text_dataset.h"
#include "core/data/tokenizer.h"
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

}  // namespace peer
