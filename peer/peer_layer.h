// PEER: Parameter Efficient Expert Retrieval ("Mixture of A Million Experts", He 2024).
//   h heads, each with its own query network (one Linear(d, h*d_key) without bias, optional
//   BatchNorm on the queries) -> per head, exact product-key top-k over every pool (global top-k
//   by score, ties by global expert index) -> router weights w = softmax of the k scores ->
//   head output sum_j w_j act(u_j . x) v_j -> layer output = sum over heads.
// Backward reaches the input, the query network (and BatchNorm), the sub-keys (through the
// scores) and the retrieved rows of U and V, as row-sparse gradients.
#pragma once

#include <memory>

#include "core/nn/batchnorm.h"
#include "core/nn/dropout.h"
#include "core/nn/ffn_slot.h"
#include "core/nn/linear.h"
#include "core/ops/activation.h"
#include "peer/expert_pool.h"
#include "peer/experts.h"

namespace peer {

struct PeerOptions {
  int64_t heads = 8;
  int64_t top_k = 16;
  int64_t d_key = 128;
  Activation activation = Activation::GELU;
  bool query_batchnorm = true;
  float key_init_std = 0.0f;     // 0 = default_key_init_std(d_key)
  float expert_init_std = 0.0f;  // 0 = default_expert_init_std(d)
  float dropout = 0.0f;          // on the layer's output, like the dense and MoE FFN slots
};

// The init scales 0 stands for: (d_key/2)^-0.5 for the product keys, d^-0.5 for the experts.
float default_key_init_std(int64_t d_key);
float default_expert_init_std(int64_t d);

class PeerLayer : public FfnSlot {
 public:
  // stream: the Philox stream of the output dropout (used when o.dropout > 0).
  PeerLayer(const std::string& name, int64_t d, const PeerOptions& o, PoolShape first_pool, InitScheme init,
            uint64_t seed, uint64_t stream = 0);
  const Tensor& forward(const Tensor& x, bool train, uint64_t step) override;
  const Tensor& backward(const Tensor& dy) override;
  void collect_parameters(std::vector<Parameter*>& out) override;
  void stats(Stats& out) const override;
  void reset_stats() override;

  // Appends a fresh pool (its own keys and experts); returns its index.
  int64_t add_pool(PoolShape shape);
  int64_t num_experts() const;  // over all pools

  // The last forward's retrieval, for tests: (tokens*heads, k) global indices and scores, copied
  // to the host.
  std::vector<int32_t> retrieved() const;
  std::vector<float> scores() const;

  Linear query;
  std::unique_ptr<BatchNorm1d> query_bn;
  std::vector<std::unique_ptr<ExpertPool>> pools;
  // Oracle routing (lifelong streams): >= 0 retrieves from that pool alone; -1 from every pool.
  int64_t only_pool = -1;

 private:
  void retrieve(const Tensor& q);
  void keys_and_experts_grads(const Tensor& x, const Tensor& dy);
  std::vector<PoolTable> tables() const;

  std::string name_;
  int64_t d_;
  PeerOptions opt_;
  uint64_t seed_;
  const Tensor* x_ = nullptr;
  const Tensor* q_ = nullptr;  // (T, h*d_key) queries after BatchNorm
  // The buffers follow the input's device. A = T*h*k assignments (token, head, rank).
  std::vector<Tensor> pool_index_, pool_score_;  // per pool: (T*h, kp) its own top list
  Tensor pool_, local_, global_;                 // (A) I32: pool, index inside it, global index
  Tensor score_, weight_;                        // (A) scores, softmax of them per (token, head)
  Tensor pre_;                                   // (A) u . x
  Tensor dscore_, coef_u_, coef_v_;              // (A) dL/dscore; scatter coefficients for dU, dV
  Dropout drop_;
  Tensor y_, dy_, dx_, dq_;  // dy_: the gradient through the output dropout
  Tensor usage_;             // (num_experts) I32 retrievals counted in eval forwards
};

}  // namespace peer
