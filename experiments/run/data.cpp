#include "experiments/run/data.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"
#include "core/rng.h"
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
                       std::to_string(d.dataset->tokens(s).size()) + " tokens, fewer than block_size + 1 (" +
                       std::to_string(c.model.block_size + 1) + "); use more text or change data.val_fraction");
  return d;
}

double estimate_loss(LanguageModel& model, const TextDataset& data, Split split, const Config& c, int64_t batches) {
  std::vector<int32_t> x, y;
  double total = 0.0;
  const uint64_t stream = split == Split::Val ? kStreamEvalVal : kStreamEvalTrain;
  for (int64_t i = 0; i < batches; ++i) {
    data.batch(split, c.train.batch_size, c.model.block_size, uint64_t(c.train.seed), stream, uint64_t(i), x, y);
    total += model.forward(x.data(), y.data(), c.train.batch_size, c.model.block_size, false, 0);
  }
  return total / double(batches);
}

std::string sample_text(LanguageModel& model, const Tokenizer& tok, const std::string& prompt, int64_t tokens,
                        double temperature, int64_t top_k, uint64_t seed) {
  std::vector<int32_t> ids = encode_or_explain(tok, prompt, "--prompt");
  if (ids.empty()) ids.push_back(tok.contains('\n') ? tok.encode("\n")[0] : 0);
  const size_t first_new = prompt.empty() ? ids.size() : 0;
  const int64_t V = tok.vocab_size(), block = model.shape().block_size;
  Philox rng(seed, kStreamSample);
  std::vector<double> p(V);
  std::vector<int32_t> order(V);
  for (int64_t n = 0; n < tokens; ++n) {
    int64_t T = std::min<int64_t>(block, int64_t(ids.size()));
    model.forward(ids.data() + ids.size() - T, nullptr, 1, T, false, 0);
    const float* z = model.logits().data() + (T - 1) * V;
    std::iota(order.begin(), order.end(), 0);
    int64_t k = top_k > 0 ? std::min(top_k, V) : V;
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](int32_t a, int32_t b) { return z[a] > z[b]; });
    double sum = 0.0;
    for (int64_t j = 0; j < k; ++j) sum += (p[j] = std::exp((z[order[j]] - z[order[0]]) / std::max(temperature, 1e-6)));
    double u = rng.uniform(uint64_t(n)) * sum;
    int64_t pick = 0;
    for (double acc = p[0]; acc < u && pick + 1 < k; acc += p[++pick]) {
    }
    ids.push_back(order[pick]);
  }
  return tok.decode(std::vector<int32_t>(ids.begin() + first_new, ids.end()));
}

}  // namespace peer

namespace peer {

std::pair<double, int64_t> sequential_loss(LanguageModel& model, const std::vector<int32_t>& tokens, int64_t B,
                                           int64_t T) {
  const int64_t windows = (int64_t(tokens.size()) - 1) / T;
  double total = 0.0;
  std::vector<int32_t> x, y;
  for (int64_t w0 = 0; w0 < windows; w0 += B) {
    int64_t nb = std::min(B, windows - w0);
    x.resize(nb * T);
    y.resize(nb * T);
    for (int64_t b = 0; b < nb; ++b)
      for (int64_t t = 0; t < T; ++t) {
        x[b * T + t] = tokens[(w0 + b) * T + t];
        y[b * T + t] = tokens[(w0 + b) * T + t + 1];
      }
    total += model.forward(x.data(), y.data(), nb, T, false, 0) * double(nb * T);
  }
  return {windows ? total / double(windows * T) : 0.0, windows * T};
}

}  // namespace peer
