// E expert MLPs, Linear(d, d_expert) -> act -> Linear(d_expert, d), stored as stacked tensors.
// forward() runs each expert as one GEMM over only the rows dispatched to it (grouped layout of
// a DispatchPlan); nothing is computed for tokens an expert did not receive. On the GPU each of
// the GEMMs is one launch for all experts (moe/cuda/experts.cu), so no count is read on the host.
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
  // x (N, d) -> y (rows, d) in the plan's grouped order, on x's device.
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
  void forward_cuda(const Tensor& x);
  void backward_cuda(const Tensor& dy);

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

namespace cuda {
// Per expert e, over its rows r of the plan (moe/cuda/experts.cu; deterministic: every sum in a
// fixed order, no atomics):
//   grouped_linear              y[r] = x[r] W_e^T + b_e       x (rows, in), W (E, out, in), b (E, out) -> y (rows, out)
//   grouped_linear_input_grad   dx[r] = dy[r] W_e             dy (rows, out) -> dx (rows, in)
//   grouped_linear_weight_grad  dW_e += dy_e^T x_e, db_e += column sums of dy_e   (dW (E, out, in), db (E, out))
void grouped_linear(const Tensor& x, const DispatchPlan& p, const Tensor& W, const Tensor& b, Tensor& y);
void grouped_linear_input_grad(const Tensor& dy, const DispatchPlan& p, const Tensor& W, Tensor& dx);
void grouped_linear_weight_grad(const Tensor& dy, const Tensor& x, const DispatchPlan& p, Tensor& dW, Tensor& db);
}  // namespace cuda

}  // namespace peer
