#include "experiments/run/sample.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "core/rng.h"
#include "experiments/run/checkpoint.h"
#include "experiments/run/data.h"
#include "experiments/run/interrupt.h"

namespace peer {

std::string sample_text(LanguageModel& model, const Tokenizer& tok, const std::string& prompt, int64_t tokens,
                        double temperature, int64_t top_k, uint64_t seed) {
  std::vector<int32_t> ids = encode_or_explain(tok, prompt, "--prompt");
  if (ids.empty()) ids.push_back(tok.contains('\n') ? tok.encode("\n")[0] : 0);
  const size_t first_new = prompt.empty() ? ids.size() : 0;
  const int64_t V = tok.vocab_size(), block = model.shape().block_size;
  Philox rng(seed, kStreamSample);
  std::vector<double> p(V);
  std::vector<int32_t> order(V);
  for (int64_t n = 0; n < tokens && !interrupt_requested(); ++n) {
    int64_t T = std::min<int64_t>(block, int64_t(ids.size()));
    model.forward(ids.data() + ids.size() - T, nullptr, 1, T, false, 0);
    const Tensor logits = model.logits().to(Device::CPU);  // the last row is read on the host
    const float* z = logits.data() + (T - 1) * V;
    if (!std::all_of(z, z + V, [](float v) { return std::isfinite(v); }))
      throw NonFiniteError("sampling: the model's logits hold a NaN or an infinity");
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
