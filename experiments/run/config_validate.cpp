// Value checks for a parsed Config: each failure names the key and the reason. Sizes are bounded
// (config.h, "Limits") before any product of them is formed.
#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "core/io/input_file.h"
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
// A size key: in [lo, hi] (0 = derived is allowed where lo = 0).
void size_in(int64_t v, int64_t lo, int64_t hi, const std::string& key, const std::string& zero_means = "") {
  require(v >= lo && v <= hi, key,
          std::to_string(v) + " must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]" +
              (zero_means.empty() ? "" : " (0 = " + zero_means + ")"));
}

// The largest allocations of a run (a lower estimate: parameters with their gradient and AdamW
// moments, and the main activations of one training step), in double: no product overflows.
struct Part {
  double bytes;
  std::string what;  // names the key that sets it
};
std::vector<Part> memory_parts(const Config& c) {
  const ModelConfig& m = c.model;
  const double d = double(m.n_embd), L = double(m.n_layer), T = double(c.train.batch_size) * double(m.block_size);
  const double expert_blocks = m.ffn == "dense" ? 0.0 : double(m.n_layer / m.ffn_every);
  const double dense_blocks = L - expert_blocks, V = 256.0, state = 16.0;  // value, grad, m, v: 4 floats
  std::vector<Part> parts = {
      {state * (2 * V * d + double(m.block_size) * d + L * 4 * d * d + dense_blocks * 2 * d * double(c.d_ff())),
       "the attention and dense FFN weights, model.n_embd = " + std::to_string(m.n_embd)},
      {4.0 * L * T * (12 * d + 2 * double(c.d_ff())) + 8.0 * T * V,
       "the activations of train.batch_size x model.block_size = " + std::to_string(c.train.batch_size) + " x " +
           std::to_string(m.block_size) + " tokens"},
      {8.0 * L * double(c.train.batch_size) * double(m.n_head) * double(m.block_size) * double(m.block_size),
       "the attention scores, model.block_size = " + std::to_string(m.block_size)}};
  if (m.ffn == "moe") {
    const MoEConfig& e = c.moe;
    const double experts = double(e.num_experts) + double(e.num_shared);
    parts.push_back({state * expert_blocks * (experts * 2 * d * double(c.d_expert()) + 2 * d * double(e.num_experts)),
                     "the MoE experts, moe.num_experts = " + std::to_string(e.num_experts) +
                         " x moe.d_expert = " + std::to_string(c.d_expert())});
    parts.push_back({4.0 * expert_blocks * T * (double(e.num_experts) + (double(e.top_k) + double(e.num_shared)) *
                                                                            (2 * double(c.d_expert()) + d)),
                     "the MoE activations, moe.top_k = " + std::to_string(e.top_k)});
  }
  if (m.ffn == "peer") {
    const PeerConfig& p = c.peer;
    const auto [n1, n2] = c.peer_sides();
    parts.push_back({state * expert_blocks * (double(p.num_experts) * 2 * d + double(n1 + n2) * double(p.d_key) / 2 +
                                              d * double(p.heads) * double(p.d_key)),
                     "the PEER experts, peer.num_experts = " + std::to_string(p.num_experts)});
    parts.push_back({4.0 * expert_blocks * T * double(p.heads) * (double(n1 + n2) + 4 * double(p.top_k) + double(p.d_key)),
                     "the PEER retrieval, peer.heads = " + std::to_string(p.heads) +
                         " x peer.top_k = " + std::to_string(p.top_k)});
  }
  if (m.ffn == "pkm" || m.ffn == "memory_plus") {
    const PkmConfig& p = c.pkm;
    const double vd = double(c.pkm_value_dim()), rows = double(p.num_keys);
    const double tables = (m.ffn == "memory_plus" && c.memory_plus.shared_pool) ? 1.0 : expert_blocks;
    parts.push_back({state * tables * rows * vd, "the memory values, pkm.num_keys = " + std::to_string(p.num_keys)});
    parts.push_back({4.0 * expert_blocks * T * double(p.heads) * (2 * std::sqrt(rows) + 4 * double(p.top_k) + double(p.d_key)),
                     "the memory retrieval, pkm.heads = " + std::to_string(p.heads) +
                         " x pkm.top_k = " + std::to_string(p.top_k)});
  }
  return parts;
}


// [pkm] (the memory of ffn = pkm and memory_plus) and [memory_plus] (that kind only).
void validate_memory(const Config& c) {
  const PkmConfig& p = c.pkm;
  size_in(p.num_keys, 1, kMaxSize, "pkm.num_keys");
  size_in(p.n1, 0, kMaxSize, "pkm.n1", "sqrt(num_keys)");
  size_in(p.n2, 0, kMaxSize, "pkm.n2", "sqrt(num_keys)");
  size_in(p.heads, 1, kMaxSize, "pkm.heads");
  size_in(p.d_key, 2, kMaxSize, "pkm.d_key");
  size_in(p.value_dim, 0, kMaxSize, "pkm.value_dim", "model.n_embd");
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

void require_fits_in_memory(const Config& c) {
  const std::vector<Part> parts = memory_parts(c);
  double total = 0;
  for (const Part& p : parts) total += p.bytes;
  const Part& largest = *std::max_element(parts.begin(), parts.end(),
                                          [](const Part& a, const Part& b) { return a.bytes < b.bytes; });
  require_memory(total, "config: the run (largest part: " + largest.what + ")");
}

void check_peer_experts(const std::vector<int64_t>& experts_per_layer, int64_t n_embd, const std::string& what) {
  double experts = 0;
  for (int64_t n : experts_per_layer) {
    if (n < 1 || n > kMaxExperts)
      throw InputError(what + ": " + std::to_string(n) + " experts in one PEER layer, outside [1, " +
                       std::to_string(kMaxExperts) + "] (expert indices are 32-bit)");
    experts += double(n);
  }
  require_memory(12.0 * experts * 2 * double(n_embd), what + " (the PEER expert tables and their AdamW moments)");
}

void validate(const Config& c) {
  const ModelConfig& m = c.model;
  size_in(m.n_embd, 1, kMaxSize, "model.n_embd");
  size_in(m.n_head, 1, kMaxSize, "model.n_head");
  require(m.n_embd % m.n_head == 0, "model.n_embd",
          std::to_string(m.n_embd) + " is not divisible by model.n_head = " + std::to_string(m.n_head));
  size_in(m.n_layer, 1, kMaxSize, "model.n_layer");
  size_in(m.block_size, 1, kMaxSize, "model.block_size");
  require(m.dropout >= 0.0 && m.dropout < 1.0, "model.dropout", "must be in [0, 1)");
  one_of(m.ffn, {"dense", "moe", "peer", "pkm", "memory_plus"}, "model.ffn");
  size_in(m.ffn_every, 1, kMaxSize, "model.ffn_every");
  require(m.ffn == "dense" || m.ffn_every <= m.n_layer, "model.ffn_every",
          std::to_string(m.ffn_every) + " is more than model.n_layer = " + std::to_string(m.n_layer) +
              ": no block would hold the " + m.ffn + " FFN");
  size_in(m.d_ff, 0, kMaxSize, "model.d_ff", "4 * n_embd");
  size_in(c.d_ff(), 1, kMaxSize, "model.d_ff", "4 * n_embd");
  one_of(m.activation, {"relu", "gelu"}, "model.activation");
  one_of(m.init, {"kaiming", "xavier", "normal"}, "model.init");

  const MoEConfig& e = c.moe;
  size_in(e.num_experts, 1, kMaxExperts, "moe.num_experts");
  require(e.top_k >= 1 && e.top_k <= e.num_experts, "moe.top_k",
          std::to_string(e.top_k) + " must be in [1, moe.num_experts = " + std::to_string(e.num_experts) + "]");
  size_in(e.d_expert, 0, kMaxSize, "moe.d_expert", "model.d_ff");
  one_of(e.router, {"topk", "noisy_topk", "switch"}, "moe.router");
  require(e.router != "switch" || e.top_k == 1, "moe.top_k", "the switch router is top-1; set moe.top_k = 1");
  // A factor of num_experts / top_k already keeps every token; the bound keeps the capacity an int64.
  require(e.capacity_factor >= 0.0 && e.capacity_factor <= 1e6, "moe.capacity_factor", "must be in [0, 1e6] (0 = dropless)");
  require(e.eval_capacity_factor >= 0.0 && e.eval_capacity_factor <= 1e6, "moe.eval_capacity_factor",
          "must be in [0, 1e6] (0 = dropless)");
  require(e.load_balance_coef >= 0.0, "moe.load_balance_coef", "must be >= 0");
  require(e.importance_coef >= 0.0, "moe.importance_coef", "must be >= 0");
  require(e.z_loss_coef >= 0.0, "moe.z_loss_coef", "must be >= 0");
  size_in(e.num_shared, 0, kMaxSize, "moe.num_shared");

  const PeerConfig& p = c.peer;
  size_in(p.num_experts, 1, kMaxExperts, "peer.num_experts");
  size_in(p.n1, 0, kMaxExperts, "peer.n1", "sqrt(num_experts)");
  size_in(p.n2, 0, kMaxExperts, "peer.n2", "sqrt(num_experts)");
  require((p.n1 > 0) == (p.n2 > 0), "peer.n1",
          "give both peer.n1 and peer.n2 (> 0), or neither (n1 = n2 = sqrt(num_experts))");
  auto [n1, n2] = c.peer_sides();
  require(n1 * n2 == p.num_experts, "peer.num_experts",
          std::to_string(p.num_experts) + " is not n1 * n2 = " + std::to_string(n1) + " * " + std::to_string(n2) +
              (p.n1 > 0 ? "" : " (not a perfect square: set peer.n1 and peer.n2)"));
  size_in(p.heads, 1, kMaxSize, "peer.heads");
  require(p.d_key >= 2 && p.d_key <= kMaxSize && p.d_key % 2 == 0, "peer.d_key",
          std::to_string(p.d_key) + " must be even and in [2, " + std::to_string(kMaxSize) + "]");
  const int64_t k_max = std::min({n1, n2, kMaxTopK});
  require(p.top_k >= 1 && p.top_k <= k_max, "peer.top_k",
          std::to_string(p.top_k) + " must be in [1, min(n1, n2, " + std::to_string(kMaxTopK) +
              ") = " + std::to_string(k_max) + "]");
  one_of(p.activation, {"relu", "gelu"}, "peer.activation");
  require(p.key_init_std >= 0.0, "peer.key_init_std", "must be >= 0 (0 = (d_key/2)^-0.5)");
  require(p.expert_init_std >= 0.0, "peer.expert_init_std", "must be >= 0 (0 = n_embd^-0.5)");

  validate_memory(c);

  const TrainConfig& t = c.train;
  require(t.steps >= 1, "train.steps", "must be >= 1");
  require(t.tokens >= 0, "train.tokens", "must be >= 0 (0 = use train.steps)");
  size_in(t.batch_size, 1, kMaxSize, "train.batch_size");
  // Tokens trained, steps x batch_size x block_size, must fit int64.
  const double tokens = double(c.total_steps()) * double(t.batch_size) * double(m.block_size);
  require(tokens < 9.2e18, t.tokens > 0 ? "train.tokens" : "train.steps",
          "steps x train.batch_size x model.block_size, the tokens trained, must be below 2^63");
  require(t.lr > 0.0, "train.lr", "must be > 0");
  require(t.min_lr_ratio >= 0.0 && t.min_lr_ratio <= 1.0, "train.min_lr_ratio", "must be in [0, 1]");
  require(t.weight_decay >= 0.0, "train.weight_decay", "must be >= 0");
  require(t.warmup_steps >= 0, "train.warmup_steps", "must be >= 0");
  require(t.grad_clip >= 0.0, "train.grad_clip", "must be >= 0 (0 = no clipping)");
  require(t.eval_every >= 1, "train.eval_every", "must be >= 1");
  size_in(t.eval_batches, 1, kMaxSize, "train.eval_batches");
  require(t.log_every >= 1, "train.log_every", "must be >= 1");
  size_in(t.sample_tokens, 0, kMaxSize, "train.sample_tokens", "none");
  require(t.seed >= 0, "train.seed", "must be >= 0");
  size_in(t.threads, 1, kMaxThreads, "train.threads");
  one_of(t.device, {"cpu", "cuda"}, "train.device");
  one_of(t.sparse_adam, {"lazy", "dense"}, "train.sparse_adam");

  const DataConfig& d = c.data;
  one_of(d.source, {"brown", "files"}, "data.source");
  require(d.source != "files" || !d.files.empty(), "data.files", "must name at least one file when source = \"files\"");
  require(d.val_fraction > 0.0 && d.val_fraction < 1.0, "data.val_fraction", "must be in (0, 1)");
}

}  // namespace peer
