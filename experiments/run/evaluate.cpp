#include "experiments/run/evaluate.h"

#include <algorithm>

#include "core/rng.h"

namespace peer {

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
