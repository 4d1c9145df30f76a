// Run configuration: the TOML schema (experiments/README.md lists its keys), defaults, `--set`
// overrides, validation, resolution. Unknown keys, wrong types and impossible values are
// InputErrors naming the key.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace peer {

struct ModelConfig {
  int64_t n_embd = 128;
  int64_t n_head = 8;
  int64_t n_layer = 8;
  int64_t block_size = 32;
  double dropout = 0.1;
  std::string ffn = "dense";  // dense | moe | peer | pkm | memory_plus
  int64_t ffn_every = 1;
  int64_t d_ff = 0;  // 0 = 4 * n_embd
  std::string activation = "relu";
  std::string init = "kaiming";
};

struct MoEConfig {
  int64_t num_experts = 8;
  int64_t top_k = 2;
  int64_t d_expert = 0;  // 0 = the dense d_ff (granularity G = 1)
  std::string router = "noisy_topk";  // topk | noisy_topk | switch
  double capacity_factor = 1.25;       // training; 0 = dropless
  double eval_capacity_factor = 2.0;   // evaluation; 0 = dropless
  double load_balance_coef = 0.01;
  double importance_coef = 0.0;
  double z_loss_coef = 0.001;
  int64_t num_shared = 0;  // shared experts (hidden d_expert each) every token uses
};

struct PeerConfig {
  int64_t num_experts = 16384;  // = n1 * n2
  int64_t n1 = 0, n2 = 0;       // 0 = sqrt(num_experts)
  int64_t heads = 8;
  int64_t top_k = 16;
  int64_t d_key = 128;
  std::string activation = "gelu";
  bool query_batchnorm = true;
  double key_init_std = 0.0;     // 0 = (d_key/2)^-0.5
  double expert_init_std = 0.0;  // 0 = n_embd^-0.5
};

// The product-key memory (Lample et al. 2019) of ffn = "pkm", also the memory ffn = "memory_plus"
// reads: N = n1 * n2 value rows, h heads each retrieving its top_k rows by product keys.
struct PkmConfig {
  int64_t num_keys = 16384;  // memory rows N = n1 * n2
  int64_t n1 = 0, n2 = 0;    // 0 = sqrt(num_keys)
  int64_t heads = 4;
  int64_t top_k = 32;
  int64_t d_key = 128;
  bool query_batchnorm = true;
  bool shared_keys = false;  // one set of product keys for all heads (default: one per head, as PKM)
  int64_t value_dim = 0;     // width of a value row; 0 = n_embd (what pkm requires)
};

// Memory+ (Berges et al. 2024) on top of the PKM read-out; valid only with ffn = "memory_plus".
struct MemoryPlusConfig {
  bool shared_pool = false;  // one value table for every memory_plus block
  bool qk_norm = true;       // LayerNorm on each query half, sub-keys normalised
};

struct TrainConfig {
  int64_t steps = 3000;
  int64_t tokens = 0;  // when > 0, steps = ceil(tokens / (batch_size * block_size))
  int64_t batch_size = 16;
  double lr = 1e-3;
  double min_lr_ratio = 0.1;
  double weight_decay = 0.1;
  int64_t warmup_steps = 100;
  double grad_clip = 1.0;
  int64_t eval_every = 250;
  int64_t eval_batches = 20;
  int64_t log_every = 50;
  int64_t sample_tokens = 200;  // text sampled at the end of a run (0 = none)
  int64_t seed = 1337;
  int64_t threads = 2;
  std::string device = "cpu";
  std::string sparse_adam = "lazy";  // lazy | dense: how row-sparse expert tables are updated
};

struct DataConfig {
  std::string source = "brown";      // brown | files
  std::vector<std::string> files;    // source = files: text files or folders
  std::vector<std::string> genres;   // source = brown: genre codes ca..cr (empty = all)
  std::string dir = "data/brown";    // where `peer data prepare` put the Brown genre files
  double val_fraction = 0.1;
};

struct Config {
  ModelConfig model;
  MoEConfig moe;
  PeerConfig peer;
  PkmConfig pkm;
  MemoryPlusConfig memory_plus;
  TrainConfig train;
  DataConfig data;

  // The effective values, also where a field still holds its 0 = derived (a Config not made by
  // parse_config); resolve() writes them into the fields.
  int64_t total_steps() const;
  int64_t d_ff() const { return model.d_ff > 0 ? model.d_ff : 4 * model.n_embd; }
  int64_t d_expert() const { return moe.d_expert > 0 ? moe.d_expert : d_ff(); }
  // The product-key sides (n1, n2) of the first PEER pool.
  std::pair<int64_t, int64_t> peer_sides() const;
  // The product-key sides (n1, n2) of the PKM / Memory+ memory, and its value width.
  std::pair<int64_t, int64_t> pkm_sides() const;
  int64_t pkm_value_dim() const { return pkm.value_dim > 0 ? pkm.value_dim : model.n_embd; }
  // Whether block `layer` (0-based) holds the expert FFN (ffn_every = n: blocks n-1, 2n-1, ...).
  bool is_expert_block(int64_t layer) const { return model.ffn != "dense" && (layer + 1) % model.ffn_every == 0; }
};

// Limits (experiments/README.md, "Limits"). Every size key is at most kMaxSize, so that the
// product of two fits int64 and a dimension fits the int kernels take; expert indices are 32-bit,
// so a layer holds at most kMaxExperts experts over all its pools; a run whose parameters, their
// AdamW state and one step's main activations need more than the machine's physical memory is
// refused before anything is allocated (require_fits_in_memory, called by build_model: a config
// itself stays valid on any machine, so a sweep for a bigger one can be planned here).
constexpr int64_t kMaxSize = 2147483647;     // 2^31 - 1
constexpr int64_t kMaxExperts = 2147483647;  // 2^31 - 1, over all pools of one layer
constexpr int64_t kMaxThreads = 1024;        // train.threads, bench --threads
constexpr int64_t kMaxTopK = 4096;           // product-key retrieval (peer/product_keys.h)

// Throws InputError naming the key behind the largest part when a run of `c` needs more memory
// than this machine has (a lower estimate, in double: no product of keys overflows).
void require_fits_in_memory(const Config& c);
// Throws InputError "<what>: ..." when a PEER layer would hold more than kMaxExperts experts, or
// the expert tables of all PEER layers (values and AdamW moments) more than the machine's memory.
// experts_per_layer: each PEER layer's experts over all its pools.
void check_peer_experts(const std::vector<int64_t>& experts_per_layer, int64_t n_embd, const std::string& what);

// Parses TOML text (origin names it in messages), applies "key=value" overrides (values are
// TOML literals; a bare word is taken as a string), validates, then resolves. Throws InputError.
// Resolving after the overrides is what lets `--set model.n_embd=256` re-derive model.d_ff.
Config parse_config(const std::string& text, const std::string& origin, const std::vector<std::string>& sets = {});
Config load_config(const std::string& path, const std::vector<std::string>& sets = {});
void validate(const Config& c);
// Replaces every value that stands for a derived one (0 = auto: model.d_ff, moe.d_expert, peer.n1
// and n2, the PEER init scales, pkm.n1, n2 and value_dim; train.steps when train.tokens is set) by the value the run uses.
void resolve(Config& c);
// The config with its paths (data.dir, data.files) made absolute against the working directory,
// as a run folder stores it: eval, sample and resume then work from any directory.
Config with_absolute_paths(Config c);
// The config as TOML: every key in schema order, defaults included; floats in the shortest form
// that parses back to the same double.
std::string to_toml(const Config& c);
// Every known key, dotted ("model.n_embd", ...), in schema order.
std::vector<std::string> config_keys();

// The keys that differ between `before` and `now`, as "key (before, now)" in schema order, but
// for those a resumed run may change (their meaning says "may change on --resume").
std::vector<std::string> fixed_key_changes(const Config& before, const Config& now);

// The key reference `peer config keys` prints, from the schema the parser reads: per key its TOML
// type, its default (as to_toml writes it) and what it means.
struct ConfigKeyDoc {
  std::string key, type, default_value, meaning;
};
std::vector<ConfigKeyDoc> config_key_docs();
// The reference as aligned text columns, or as the Markdown table experiments/README.md holds.
std::string format_config_keys(bool markdown);

}  // namespace peer
