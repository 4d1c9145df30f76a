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
#include "moe/router_math.h"

namespace peer {

RouterKind parse_router(const std::string& name);  // topk | noisy_topk | switch

// The router's choice for N tokens, on the router's input device: assignment a = t*k + s is token
// t's s-th choice (s = 0 the highest score).
struct Routing {
  int64_t tokens = 0, k = 0;
  Tensor expert;  // (N*k) i32
  Tensor gate;    // (N*k) f32
};

struct AuxLosses {
  double load_balance = 0.0, importance = 0.0, z_loss = 0.0;
  double total() const { return load_balance + importance + z_loss; }
};

// What a forward keeps for its backward, on the input's device.
struct RouterState {
  const Tensor* logits = nullptr;        // (N, E) clean logits, owned by gate
  const Tensor* noise_logits = nullptr;  // (N, E) owned by noise (noisy training only)
  bool noisy = false;                    // noise was added (noisy_topk in training)
  Tensor scores;  // (N, E) h: the logits the top-k was taken on (noisy in training)
  Tensor eps;     // (N, E) noise draws
  Tensor probs;   // (N, E) softmax of the clean logits
  Tensor lse;     // (N) logsumexp of the clean logits
  // (2E + 3) f64: choice fractions f (E), importances (E), then the aux losses load_balance,
  // importance and z_loss (coefficients applied).
  Tensor choice_stats;
};

class Router : public Module {
 public:
  Router(const std::string& name, int64_t d, const RouterOptions& o, InitScheme init, uint64_t seed, uint64_t stream);
  const Routing& forward(const Tensor& x, bool train, uint64_t step);  // x (N, d)
  // dgate (N*k, on the router's device): gradient of the loss w.r.t. the gates. Adds the aux
  // losses' gradients and returns dx (N, d).
  const Tensor& backward(const Tensor& dgate);
  void collect_parameters(std::vector<Parameter*>& out) override;

  // The last forward's aux losses (read from the device on a GPU: this waits for it).
  AuxLosses aux() const;
  const Routing& routing() const { return routing_; }  // the last forward's
  const RouterState& state() const { return s_; }
  const Tensor& probs() const { return s_.probs; }  // (N, E) softmax of the clean logits
  // Fixed noise for tests: replaces the Philox draw (N*E values) until cleared.
  void set_fixed_noise(std::vector<float> eps) { fixed_noise_ = std::move(eps); }

  Linear gate;
  std::unique_ptr<Linear> noise;  // noisy_topk only

 private:
  void draw_noise(int64_t n, uint64_t step);
  void compute_aux(int64_t N);

  RouterOptions opt_;  // top_k = 1 for switch
  uint64_t seed_, stream_;
  std::vector<float> fixed_noise_;
  RouterState s_;
  Routing routing_;
  Tensor dlogits_, dnoise_;
  Tensor dx_;
};

namespace cuda {
// The router after its linear layers, on the GPU (moe/cuda/router.cu): with s.noisy, eps (drawn
// here as the CPU draws it unless `draw` is false: fixed noise already in s.eps) and
// scores += eps * softplus(noise logits); then per token probs, lse, the top-k experts and gates
// into r, and s.choice_stats. s.scores holds the clean logits on entry.
void router_forward(const RouterOptions& o, uint64_t seed, uint64_t stream, uint64_t step, bool draw, RouterState& s,
                    Routing& r);
// dlogits, dnoise (N, E): the gradients w.r.t. both linear layers' outputs (dnoise only when
// s.noisy). dgate (N*k).
void router_backward(const RouterOptions& o, const Tensor& dgate, const RouterState& s, const Routing& r,
                     Tensor& dlogits, Tensor& dnoise);
}  // namespace cuda

}  // namespace peer
