#include "experiments/run/data.h"

#include "core/error.h"
#include "experiments/run/corpus.h"

namespace peer {

std::vector<int32_t> encode_or_explain(const Tokenizer& tok, const std::string& text, const std::string& what) {
  try {
    return tok.encode(text);
  } catch (const InputError& e) {
    throw InputError(what + ": " + e.what() + " (the model's vocabulary comes from its training text)");
  }
}

RunData load_run_data(const Config& c, const std::optional<Tokenizer>& vocab) {
  std::string text = load_corpus_text(c.data);
  RunData d;
  d.tokenizer = vocab ? *vocab : Tokenizer::from_text(text);
  d.dataset = std::make_unique<TextDataset>(encode_or_explain(d.tokenizer, text, "the configured data"),
                                            c.data.val_fraction);
  for (Split s : {Split::Train, Split::Val})
    if (int64_t(d.dataset->tokens(s).size()) < c.model.block_size + 1)
      throw InputError(std::string("data: the ") + (s == Split::Train ? "training" : "validation") + " split has " +
                       std::to_string(d.dataset->tokens(s).size()) + " tokens, fewer than model.block_size + 1 (" +
                       std::to_string(c.model.block_size + 1) + "); use more text or change data.val_fraction");
  return d;
}

}  // namespace peer
