#include "experiments/run/model_factory.h"

#include "core/rng.h"
#include "moe/dense_ffn.h"
#include "moe/sparse_moe.h"
#include "peer/memory_plus.h"
#include "peer/pkm_layer.h"

namespace peer {

MoEOptions moe_options(const Config& c) {
  MoEOptions o;
  o.router.kind = parse_router(c.moe.router);
  o.router.num_experts = c.moe.num_experts;
  o.router.top_k = c.moe.top_k;
  o.router.load_balance_coef = float(c.moe.load_balance_coef);
  o.router.importance_coef = float(c.moe.importance_coef);
  o.router.z_loss_coef = float(c.moe.z_loss_coef);
  o.d_expert = c.d_expert();
  o.activation = parse_activation(c.model.activation);
  o.capacity_factor = c.moe.capacity_factor;
  o.eval_capacity_factor = c.moe.eval_capacity_factor;
  o.num_shared = c.moe.num_shared;
  o.dropout = float(c.model.dropout);
  return o;
}

PeerOptions peer_options(const Config& c) {
  PeerOptions o;
  o.heads = c.peer.heads;
  o.top_k = c.peer.top_k;
  o.d_key = c.peer.d_key;
  o.activation = parse_activation(c.peer.activation);
  o.query_batchnorm = c.peer.query_batchnorm;
  o.key_init_std = float(c.peer.key_init_std);
  o.expert_init_std = float(c.peer.expert_init_std);
  o.dropout = float(c.model.dropout);
  return o;
}

MemoryOptions memory_options(const Config& c) {
  MemoryOptions o;
  o.heads = c.pkm.heads;
  o.top_k = c.pkm.top_k;
  o.d_key = c.pkm.d_key;
  o.query_batchnorm = c.pkm.query_batchnorm;
  o.shared_keys = c.pkm.shared_keys;
  o.qk_norm = c.model.ffn == "memory_plus" && c.memory_plus.qk_norm;
  return o;
}

std::unique_ptr<LanguageModel> build_model(const Config& c, int64_t vocab_size) {
  require_fits_in_memory(c);
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
  auto [m1, m2] = c.pkm_sides();
  // memory_plus.shared_pool: one value table; the first Memory+ block lists it (the model holds it once).
  std::shared_ptr<MemoryValues> shared;
  auto ffn = [&](int64_t layer, const std::string& name) -> std::unique_ptr<FfnSlot> {
    // Dropout streams: each block owns 16 (attention uses the first two, the FFN slot from 8).
    uint64_t stream = kStreamLayer + 16 * uint64_t(layer) + 8;
    if (c.is_expert_block(layer) && c.model.ffn == "moe")
      return std::make_unique<SparseMoE>(name, s.n_embd, moe_options(c), s.init, s.seed, stream);
    if (c.is_expert_block(layer) && c.model.ffn == "peer") {
      auto [n1, n2] = c.peer_sides();
      return std::make_unique<PeerLayer>(name, s.n_embd, peer_options(c), PoolShape{n1, n2}, s.init, s.seed, stream);
    }
    if (c.is_expert_block(layer) && c.model.ffn == "pkm")
      return std::make_unique<PkmLayer>(name, s.n_embd, memory_options(c), PoolShape{m1, m2}, s.dropout, s.init,
                                        s.seed, stream);
    if (c.is_expert_block(layer) && c.model.ffn == "memory_plus") {
      const bool first = !shared;
      auto memory = shared ? shared
                           : std::make_shared<MemoryValues>(c.memory_plus.shared_pool ? "memory" : name,
                                                            PoolShape{m1, m2}, c.pkm_value_dim(), s.seed);
      if (c.memory_plus.shared_pool) shared = memory;
      return std::make_unique<MemoryPlusLayer>(name, s.n_embd, memory_options(c), memory, first, s.dropout, s.init,
                                               s.seed, stream);
    }
    return std::make_unique<DenseFFN>(name, s.n_embd, c.d_ff(), act, s.dropout, s.init, s.seed, stream);
  };
  return std::make_unique<LanguageModel>(s, ffn);
}

int64_t count_parameters(LanguageModel& m) {
  int64_t n = 0;
  for (const Parameter* p : m.parameters())
    if (!p->buffer) n += p->value.numel();
  return n;
}

}  // namespace peer
