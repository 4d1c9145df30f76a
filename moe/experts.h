// E expert MLPs, Linear(d, d_expert) -> act -> Linear(d_expert, d), stored as stacked tensors.
// forward() runs each expert as one GEMM over only the rows dispatched to it (grouped layout of
// a DispatchPlan); nothing is computed for tokens an expert did not receive.
#pragma once

#include "core/module.h"
#include "core/nn/init.h"
#include "core/ops/activation.h"
#include "moe/dispatch.h"

namespace peer {

class ExpertMLPs : public Module {
 public:
  ExpertMLPs(const std::string& name, int64_t num_experts, int64_t d, int64_t d_expert, Activation act,
             InitScheme init, uint64_t seed);
  // x (N, d) -> y (rows, d) in the plan's grouped order.
  const Tensor& forward(const Tensor& x, const DispatchPlan& plan);
  // dy (rows, d) -> dx_grouped (rows, d); expert weight gradients +=.
  const Tensor& backward(const Tensor& dy);
  void collect_parameters(std::vector<Parameter*>& out) override;

  int64_t num_experts() const { return E_; }
  int64_t d_expert() const { return d_expert_; }
  Activation activation() const { return act_; }

  Parameter w1;  // (E, d_expert, d)
  Parameter b1;  // (E, d_expert)
  Parameter w2;  // (E, d, d_expert)
  Parameter b2;  // (E, d)

 private:
  int64_t E_, d_, d_expert_;
  Activation act_;
  const DispatchPlan* plan_ = nullptr;
  Tensor xg_;       // (rows, d) gathered inputs
  Tensor pre_;      // (rows, d_expert)
  Tensor hidden_;   // (rows, d_expert)
  Tensor y_;        // (rows, d)
  Tensor dhidden_;  // (rows, d_expert)
  Tensor dxg_;      // (rows, d)
};

}  // namespace peer
