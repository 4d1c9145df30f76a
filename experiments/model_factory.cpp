#include "experiments/model_factory.h"

#include "core/rng.h"
#include "moe/dense_ffn.h"

namespace peer {

std::unique_ptr<LanguageModel> build_model(const Config& c, int64_t vocab_size) {
  TransformerShape s;
  s.vocab_size = vocab_size;
  s.n_embd = c.model.n_embd;
  s.n_head = c.model.n_head;
  s.n_layer = c.model.n_layer;
  s.block_size = c.model.block_size;
  s.dropout = float(c.model.dropout);
  s.init = parse_init(c.model.init);
  s.seed = uint64_t(c.train.seed);
  Activation act = parse_activation(c.model.activation);
  auto ffn = [&](int64_t layer, const std::string& name) -> std::unique_ptr<RowModule> {
    // Dropout streams: each block owns 16 (attention uses the first two, the FFN slot from 8).
    uint64_t stream = kStreamDropout + 16 * uint64_t(layer) + 8;
    return std::make_unique<DenseFFN>(name, s.n_embd, c.d_ff(), act, s.dropout, s.init, s.seed, stream);
  };
  return std::make_unique<LanguageModel>(s, ffn);
}

int64_t count_parameters(LanguageModel& m) {
  int64_t n = 0;
  for (const Parameter* p : m.parameters()) n += p->value.numel();
  return n;
}

}  // namespace peer
