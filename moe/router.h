// MoE routers (logits and softmax in float32) and their auxiliary losses.
//   topk       gates = softmax over the k largest logits (makeMoE); with k = 1 the gate is the
//              chosen expert's probability under the softmax over all E logits (as switch), since
//              a softmax over one kept logit is always 1 and the task loss would not train the router
//   noisy_topk the same on h = z + N(0,1) * softplus(W_noise x + b_noise), noise only in training
//              (Shazeer et al. 2017); the noise draw is Philox(seed, stream) at (step, token, expert);
//              k = 1 as topk, over the noisy scores
//   switch     top-1, gate = softmax(z) probability of the chosen expert (Fedus et al. 2021)
// Auxiliary losses, each with its own coefficient (0 = off), on P = softmax(z) of the clean logits:
//   load balance  alpha * E * sum_i f_i * mean_t P_ti, f_i = fraction of the N*k choices that
//                 picked expert i (before capacity dropping; not differentiated)  (Switch)
//   importance    w * CV^2 of Importance_i = sum over tokens of their gate for expert i (Shazeer)
//   z-loss        c_z * mean_t logsumexp(z_t)^2  (ST-MoE)
// Their gradients flow back through the router in backward().
#pragma once

#include "core/module.h"
#include "core/nn/linear.h"

namespace peer {

enum class RouterKind { TopK, NoisyTopK, Switch };
RouterKind parse_router(const std::string& name);  // topk | noisy_topk | switch

struct RouterOptions {
  RouterKind kind = RouterKind::NoisyTopK;
  int64_t num_experts = 8;
  int64_t top_k = 2;
  float load_balance_coef = 0.01f;
  float importance_coef = 0.0f;
  float z_loss_coef = 1e-3f;
};

// The router's choice for N tokens: assignment a = t*k + s is token t's s-th choice (s = 0 the
// highest score).
struct Routing {
  int64_t tokens = 0, k = 0;
  std::vector<int32_t> expert;  // (N*k)
  std::vector<float> gate;      // (N*k)
};

struct AuxLosses {
  double load_balance = 0.0, importance = 0.0, z_loss = 0.0;
  double total() const { return load_balance + importance + z_loss; }
};

class Router : public Module {
 public:
  Router(const std::string& name, int64_t d, const RouterOptions& o, InitScheme init, uint64_t seed, uint64_t stream);
  const Routing& forward(const Tensor& x, bool train, uint64_t step);  // x (N, d)
  // dgate (N*k): gradient of the loss w.r.t. the gates. Adds the aux losses' gradients and
  // returns dx (N, d).
  const Tensor& backward(const std::vector<float>& dgate);
  void collect_parameters(std::vector<Parameter*>& out) override;

  const AuxLosses& aux() const { return aux_; }
  const Tensor& probs() const { return probs_; }  // (N, E) softmax of the clean logits
  // Fixed noise for tests: replaces the Philox draw (N*E values) until cleared.
  void set_fixed_noise(std::vector<float> eps) { fixed_noise_ = std::move(eps); }

  Linear gate;
  std::unique_ptr<Linear> noise;  // noisy_topk only

 private:
  void select(int64_t t, const float* h);
  void compute_aux(int64_t N);
  void add_dscore(int64_t t, int64_t e, float dh);

  RouterOptions opt_;
  uint64_t seed_, stream_;
  bool noisy_now_ = false;
  std::vector<float> fixed_noise_;
  const Tensor* logits_ = nullptr;        // (N, E) clean logits, owned by gate
  const Tensor* noise_logits_ = nullptr;  // (N, E) owned by noise
  Tensor scores_;  // (N, E) h: the logits the top-k was taken on (noisy in training)
  Tensor eps_;     // (N, E) noise draws
  Tensor probs_;   // (N, E)
  std::vector<float> lse_;       // (N) logsumexp of clean logits
  std::vector<double> f_;        // (E) choice fractions
  std::vector<double> importance_;  // (E)
  Routing routing_;
  AuxLosses aux_;
  Tensor dlogits_, dnoise_;
  Tensor dx_;
};

}  // namespace peer
