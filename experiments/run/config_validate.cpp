// Value checks for a parsed Config: each failure names the key and the reason.
#include <algorithm>
#include <set>

#include "core/error.h"
#include "experiments/run/config.h"

namespace peer {

namespace {
void require(bool ok, const std::string& key, const std::string& why) {
  if (!ok) throw InputError("config key '" + key + "': " + why);
}
void one_of(const std::string& value, const std::set<std::string>& allowed, const std::string& key) {
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  require(allowed.count(value) > 0, key, "'" + value + "' is not one of " + list);
}

// [pkm] (the memory of ffn = pkm and memory_plus) and [memory_plus] (that kind only).
void validate_memory(const Config& c) {
  const PkmConfig& p = c.pkm;
  require(p.num_keys >= 1, "pkm.num_keys", "must be >= 1");
  require(p.n1 >= 0 && p.n2 >= 0 && (p.n1 > 0) == (p.n2 > 0), "pkm.n1",
          "give both pkm.n1 and pkm.n2 (> 0), or neither (n1 = n2 = sqrt(num_keys))");
  auto [n1, n2] = c.pkm_sides();
  require(n1 * n2 == p.num_keys, "pkm.num_keys",
          std::to_string(p.num_keys) + " is not n1 * n2 = " + std::to_string(n1) + " * " + std::to_string(n2) +
              (p.n1 > 0 ? "" : " (not a perfect square: set pkm.n1 and pkm.n2)"));
  require(p.heads >= 1, "pkm.heads", "must be >= 1");
  require(p.d_key >= 2 && p.d_key % 2 == 0, "pkm.d_key", std::to_string(p.d_key) + " must be even and >= 2");
  require(p.top_k >= 1 && p.top_k <= std::min(n1, n2), "pkm.top_k",
          std::to_string(p.top_k) + " must be in [1, min(n1, n2) = " + std::to_string(std::min(n1, n2)) + "]");
  require(c.model.ffn != "memory_plus" || !c.memory_plus.qk_norm || p.d_key >= 4, "pkm.d_key",
          "must be >= 4 with memory_plus.qk_norm (a LayerNorm over one element is 0)");
  require(p.value_dim >= 0, "pkm.value_dim", "must be >= 1 (or 0 for model.n_embd)");
  require(c.model.ffn != "pkm" || c.pkm_value_dim() == c.model.n_embd, "pkm.value_dim",
          std::to_string(p.value_dim) + " must equal model.n_embd = " + std::to_string(c.model.n_embd) +
              " with model.ffn = \"pkm\" (its read-out is the block's output; memory_plus projects it)");
  // Memory+ options elsewhere would be silently ignored: refused instead.
  const MemoryPlusConfig defaults;
  auto memory_plus_only = [&](bool changed, const std::string& key) {
    require(!changed || c.model.ffn == "memory_plus", key,
            "applies to model.ffn = \"memory_plus\" only (model.ffn is \"" + c.model.ffn + "\")");
  };
  memory_plus_only(c.memory_plus.shared_pool != defaults.shared_pool, "memory_plus.shared_pool");
  memory_plus_only(c.memory_plus.qk_norm != defaults.qk_norm, "memory_plus.qk_norm");
}
}  // namespace

void validate(const Config& c) {
  const ModelConfig& m = c.model;
  require(m.n_embd >= 1, "model.n_embd", "must be >= 1");
  require(m.n_head >= 1, "model.n_head", "must be >= 1");
  require(m.n_embd % m.n_head == 0, "model.n_embd",
          std::to_string(m.n_embd) + " is not divisible by model.n_head = " + std::to_string(m.n_head));
  require(m.n_layer >= 1, "model.n_layer", "must be >= 1");
  require(m.block_size >= 1, "model.block_size", "must be >= 1");
  require(m.dropout >= 0.0 && m.dropout < 1.0, "model.dropout", "must be in [0, 1)");
  one_of(m.ffn, {"dense", "moe", "peer", "pkm", "memory_plus"}, "model.ffn");
  require(m.ffn_every >= 1, "model.ffn_every", "must be >= 1");
  require(m.d_ff >= 0, "model.d_ff", "must be >= 1 (or 0 for 4 * n_embd)");
  one_of(m.activation, {"relu", "gelu"}, "model.activation");
  one_of(m.init, {"kaiming", "xavier", "normal"}, "model.init");

  const MoEConfig& e = c.moe;
  require(e.num_experts >= 1, "moe.num_experts", "must be >= 1");
  require(e.top_k >= 1 && e.top_k <= e.num_experts, "moe.top_k",
          std::to_string(e.top_k) + " must be in [1, moe.num_experts = " + std::to_string(e.num_experts) + "]");
  require(e.d_expert >= 0, "moe.d_expert", "must be >= 1 (or 0 for model.d_ff)");
  one_of(e.router, {"topk", "noisy_topk", "switch"}, "moe.router");
  require(e.router != "switch" || e.top_k == 1, "moe.top_k", "the switch router is top-1; set moe.top_k = 1");
  require(e.capacity_factor >= 0.0, "moe.capacity_factor", "must be >= 0 (0 = dropless)");
  require(e.eval_capacity_factor >= 0.0, "moe.eval_capacity_factor", "must be >= 0 (0 = dropless)");
  require(e.load_balance_coef >= 0.0, "moe.load_balance_coef", "must be >= 0");
  require(e.importance_coef >= 0.0, "moe.importance_coef", "must be >= 0");
  require(e.z_loss_coef >= 0.0, "moe.z_loss_coef", "must be >= 0");
  require(e.num_shared >= 0, "moe.num_shared", "must be >= 0");

  const PeerConfig& p = c.peer;
  require(p.num_experts >= 1, "peer.num_experts", "must be >= 1");
  require(p.n1 >= 0 && p.n2 >= 0 && (p.n1 > 0) == (p.n2 > 0), "peer.n1",
          "give both peer.n1 and peer.n2 (> 0), or neither (n1 = n2 = sqrt(num_experts))");
  auto [n1, n2] = c.peer_sides();
  require(n1 * n2 == p.num_experts, p.n1 > 0 ? "peer.num_experts" : "peer.num_experts",
          std::to_string(p.num_experts) + " is not n1 * n2 = " + std::to_string(n1) + " * " + std::to_string(n2) +
              (p.n1 > 0 ? "" : " (not a perfect square: set peer.n1 and peer.n2)"));
  require(p.heads >= 1, "peer.heads", "must be >= 1");
  require(p.d_key >= 2 && p.d_key % 2 == 0, "peer.d_key", std::to_string(p.d_key) + " must be even and >= 2");
  require(p.top_k >= 1 && p.top_k <= std::min(n1, n2), "peer.top_k",
          std::to_string(p.top_k) + " must be in [1, min(n1, n2) = " + std::to_string(std::min(n1, n2)) + "]");
  one_of(p.activation, {"relu", "gelu"}, "peer.activation");
  require(p.key_init_std >= 0.0, "peer.key_init_std", "must be >= 0 (0 = (d_key/2)^-0.5)");
  require(p.expert_init_std >= 0.0, "peer.expert_init_std", "must be >= 0 (0 = n_embd^-0.5)");

  validate_memory(c);

  const TrainConfig& t = c.train;
  require(t.steps >= 1, "train.steps", "must be >= 1");
  require(t.tokens >= 0, "train.tokens", "must be >= 0 (0 = use train.steps)");
  require(t.batch_size >= 1, "train.batch_size", "must be >= 1");
  require(t.lr > 0.0, "train.lr", "must be > 0");
  require(t.min_lr_ratio >= 0.0 && t.min_lr_ratio <= 1.0, "train.min_lr_ratio", "must be in [0, 1]");
  require(t.weight_decay >= 0.0, "train.weight_decay", "must be >= 0");
  require(t.warmup_steps >= 0, "train.warmup_steps", "must be >= 0");
  require(t.grad_clip >= 0.0, "train.grad_clip", "must be >= 0 (0 = no clipping)");
  require(t.eval_every >= 1, "train.eval_every", "must be >= 1");
  require(t.eval_batches >= 1, "train.eval_batches", "must be >= 1");
  require(t.log_every >= 1, "train.log_every", "must be >= 1");
  require(t.sample_tokens >= 0, "train.sample_tokens", "must be >= 0");
  require(t.seed >= 0, "train.seed", "must be >= 0");
  require(t.threads >= 1 && t.threads <= 1024, "train.threads", "must be in [1, 1024]");
  one_of(t.device, {"cpu", "cuda"}, "train.device");
  one_of(t.sparse_adam, {"lazy", "dense"}, "train.sparse_adam");

  const DataConfig& d = c.data;
  one_of(d.source, {"brown", "files"}, "data.source");
  require(d.source != "files" || !d.files.empty(), "data.files", "must name at least one file when source = \"files\"");
  require(d.val_fraction > 0.0 && d.val_fraction < 1.0, "data.val_fraction", "must be in (0, 1)");
}

}  // namespace peer
