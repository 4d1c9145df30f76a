#include "core/data/text_dataset.h"

#include <string>

#include "core/error.h"
#include "core/rng.h"

namespace peer {

TextDataset::TextDataset(std::vector<int32_t> tokens, double val_fraction) {
  size_t n_val = size_t(double(tokens.size()) * val_fraction);
  val_.assign(tokens.end() - n_val, tokens.end());
  tokens.resize(tokens.size() - n_val);
  train_ = std::move(tokens);
}

void TextDataset::batch(Split s, int64_t B, int64_t T, uint64_t seed, uint64_t stream, uint64_t draw,
                        std::vector<int32_t>& x, std::vector<int32_t>& y) const {
  const std::vector<int32_t>& data = tokens(s);
  if (int64_t(data.size()) < T + 1)
    throw InputError(std::string("[data] the ") + (s == Split::Train ? "training" : "validation") + " split has " +
                     std::to_string(data.size()) + " tokens, fewer than block_size + 1 = " + std::to_string(T + 1));
  x.resize(B * T);
  y.resize(B * T);
  Philox rng(seed, stream);
  const uint64_t starts = data.size() - T;
  for (int64_t b = 0; b < B; ++b) {
    uint64_t start = rng.below(starts, draw * B + b);
    for (int64_t t = 0; t < T; ++t) {
      x[b * T + t] = data[start + t];
      y[b * T + t] = data[start + t + 1];
    }
  }
}

}  // namespace peer
