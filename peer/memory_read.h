// The read-out of a product-key memory (Lample et al. 2019, "Large Memory Layers with Product
// Keys"): what the PKM and Memory+ FFN slots (pkm_layer.h, memory_plus.h) are built from.
//   q = query(x) (one Linear(d, h*d_key) without bias), optional BatchNorm on q (PKM), optional
//   qk-normalisation (Memory+: LayerNorm on each query half, every sub-key row normalised)
//   -> per head, exact product-key top-k over N = n1 * n2 keys (peer/product_keys.h) with that
//   head's sub-keys (or one set shared by all heads) -> w = softmax of the k scores
//   -> y = sum over heads of sum_j w_j values[i_j]   (values (N, value_dim), shared by heads).
// Backward reaches the input, the query net (and its norms), the retrieved sub-key rows and the
// retrieved value rows; keys and values are row-sparse parameters (the lazy row-sparse AdamW
// updates only the touched rows). The value table may be shared by several layers (Memory+'s
// shared pool): each layer's backward adds its rows into the one parameter's gradient.
#pragma once

#include <memory>

#include "core/nn/batchnorm.h"
#include "core/nn/layernorm.h"
#include "core/nn/linear.h"
#include "core/sparse_rows.h"
#include "peer/expert_pool.h"

namespace peer {

struct MemoryOptions {
  int64_t heads = 4;
  int64_t top_k = 32;
  int64_t d_key = 128;
  bool query_batchnorm = true;
  bool shared_keys = false;  // one set of sub-keys for all heads (default: one per head, as PKM)
  bool qk_norm = false;      // Memory+'s query and key normalisation (see memory_read.cpp)
};

// The memory rows: N = n1 * n2 values of width `width`, one row-sparse parameter, init
// N(0, width^-1) (the Memory Layers code's value init).
class MemoryValues : public Module {
 public:
  MemoryValues(const std::string& name, PoolShape shape, int64_t width, uint64_t seed);
  void collect_parameters(std::vector<Parameter*>& out) override { out.push_back(&values); }

  PoolShape shape;
  Parameter values;  // (n1*n2, width)
};

class MemoryRead : public Module {
 public:
  // lists_values: whether collect_parameters includes the value table. A table shared by
  // several layers is listed by one of them only, so a model holds (trains, saves) it once.
  MemoryRead(const std::string& name, int64_t d, const MemoryOptions& o, std::shared_ptr<MemoryValues> memory,
             bool lists_values, InitScheme init, uint64_t seed);
  const Tensor& forward(const Tensor& x, bool train);  // x (T, d) -> y (T, value_dim)
  const Tensor& backward(const Tensor& dy);             // dy (T, value_dim) -> dx (T, d)
  void collect_parameters(std::vector<Parameter*>& out) override;
  // Fraction of the memory rows retrieved and KL(usage || uniform), over eval forwards since
  // reset_stats, as name.usage_frac and name.usage_kl.
  void stats(const std::string& name, Stats& out) const;
  void reset_stats() { usage_.clear(); }

  // The last forward's retrieval: (T*h, k) value rows and scores, row t*h + head.
  const std::vector<int32_t>& retrieved() const { return index_; }
  const std::vector<float>& scores() const { return score_; }
  int64_t value_dim() const { return memory->values.value.dim(1); }

  Linear query;
  std::unique_ptr<BatchNorm1d> query_bn;
  std::unique_ptr<LayerNorm> query_norm;  // qk_norm: over each query half (d_key/2)
  Parameter keys1;                         // (hk*n1, d_key/2), hk = 1 (shared_keys) or heads
  Parameter keys2;                         // (hk*n2, d_key/2)
  std::shared_ptr<MemoryValues> memory;

 private:
  KeyTables head_keys(int64_t head) const;
  const Tensor& queries(const Tensor& x, bool train);
  void normalise_keys();
  void retrieve(const Tensor& q);
  void keys_backward(const Tensor& q);
  void key_rows_backward(Parameter& keys, const std::vector<float>& mean, const std::vector<float>& rstd);

  MemoryOptions opt_;
  bool lists_values_;
  const Tensor* q_ = nullptr;        // (T, h*d_key) queries as retrieval sees them
  Tensor q_split_;                   // (T*h*2, d_key/2) the queries, one half a row (qk_norm)
  Tensor dq_;                        // q_'s shape: dL/dq as retrieval sees it
  Tensor dq_full_;                   // (T, h*d_key) dL/dq before the query LayerNorm (qk_norm)
  Tensor norm1_, norm2_;             // qk_norm: the normalised sub-keys, as keys1 and keys2
  std::vector<float> mean1_, rstd1_, mean2_, rstd2_;  // (rows) of the key normalisation
  std::vector<float> key_scale_;     // (d_key/2) all (d_key/2)^-1/2: the normalised keys' scale
  std::vector<float> key_shift_;     // (d_key/2) zeros
  std::vector<int32_t> index_;       // (T*h*k) value row of each read
  std::vector<float> score_;         // (T*h*k)
  std::vector<float> weight_;        // (T*h*k) softmax of the scores per (token, head)
  std::vector<float> dscore_;        // (T*h*k)
  std::vector<RowContribution> contrib_;
  RowSparseGrad dnorm_;              // scratch: gradient rows of the normalised keys
  Tensor y_;                         // (T, value_dim)
  std::vector<int64_t> usage_;       // (N) reads counted in eval forwards
};

}  // namespace peer
