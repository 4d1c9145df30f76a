#include "moe/experts.h"

#include <algorithm>

namespace peer {

ExpertMLPs::ExpertMLPs(const std::string& name, int64_t num_experts, int64_t d, int64_t d_expert, Activation act,
                       InitScheme init, uint64_t seed)
    : w1(name + ".w1", {num_experts, d_expert, d}, true),
      b1(name + ".b1", {num_experts, d_expert}, false),
      w2(name + ".w2", {num_experts, d, d_expert}, true),
      b2(name + ".b2", {num_experts, d}, false),
      E_(num_experts),
      d_(d),
      dx_(d_expert),
      act_(act) {
  // Each expert is a (fan_out, fan_in) linear weight: initialise expert by expert.
  for (Parameter* p : {&w1, &w2}) {
    int64_t rows = p->value.dim(1), cols = p->value.dim(2);
    for (int64_t e = 0; e < E_; ++e) {
      Parameter one(p->name + "." + std::to_string(e), {rows, cols}, true);
      init_linear_weight(one, init, seed);
      std::copy(one.value.data(), one.value.data() + rows * cols, p->value.data() + e * rows * cols);
    }
  }
}

const Tensor& ExpertMLPs::forward(const Tensor& x, const DispatchPlan& plan) {
  plan_ = &plan;
  const int64_t rows = plan.rows();
  xg_.resize({rows, d_});
  pre_.resize({rows, dx_});
  hidden_.resize({rows, dx_});
  y_.resize({rows, d_});
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) std::copy_n(x.data() + int64_t(plan.token[r]) * d_, d_, xg_.data() + r * d_);
  // Experts in parallel (each GEMM single-threaded inside); every expert writes its own rows.
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t e = 0; e < E_; ++e) {
    const int64_t r0 = plan.offsets[e], n = plan.offsets[e + 1] - r0;
    if (n == 0) continue;
    float* pre = pre_.data() + r0 * dx_;
    float* y = y_.data() + r0 * d_;
    for (int64_t i = 0; i < n; ++i) {
      std::copy_n(b1.value.data() + e * dx_, dx_, pre + i * dx_);
      std::copy_n(b2.value.data() + e * d_, d_, y + i * d_);
    }
    gemm(false, true, n, dx_, d_, 1.0f, xg_.data() + r0 * d_, d_, w1.value.data() + e * dx_ * d_, d_, 1.0f, pre, dx_);
    activation_forward(act_, pre, hidden_.data() + r0 * dx_, n * dx_);
    gemm(false, true, n, d_, dx_, 1.0f, hidden_.data() + r0 * dx_, dx_, w2.value.data() + e * d_ * dx_, dx_, 1.0f, y,
         d_);
  }
  return y_;
}

const Tensor& ExpertMLPs::backward(const Tensor& dy) {
  const DispatchPlan& plan = *plan_;
  const int64_t rows = plan.rows();
  dhidden_.resize({rows, dx_});
  dxg_.resize({rows, d_});
  const bool train_weights = !w1.frozen;
#pragma omp parallel for schedule(dynamic, 1)
  for (int64_t e = 0; e < E_; ++e) {
    const int64_t r0 = plan.offsets[e], n = plan.offsets[e + 1] - r0;
    if (n == 0) continue;
    const float* g = dy.data() + r0 * d_;
    float* dh = dhidden_.data() + r0 * dx_;
    if (train_weights) {
      gemm(true, false, d_, dx_, n, 1.0f, g, d_, hidden_.data() + r0 * dx_, dx_, 1.0f, w2.grad.data() + e * d_ * dx_,
           dx_);
      add_column_sums(g, n, d_, b2.grad.data() + e * d_);
    }
    gemm(false, false, n, dx_, d_, 1.0f, g, d_, w2.value.data() + e * d_ * dx_, dx_, 0.0f, dh, dx_);
    activation_backward(act_, pre_.data() + r0 * dx_, dh, dh, n * dx_);
    if (train_weights) {
      gemm(true, false, dx_, d_, n, 1.0f, dh, dx_, xg_.data() + r0 * d_, d_, 1.0f, w1.grad.data() + e * dx_ * d_, d_);
      add_column_sums(dh, n, dx_, b1.grad.data() + e * dx_);
    }
    gemm(false, false, n, d_, dx_, 1.0f, dh, dx_, w1.value.data() + e * dx_ * d_, d_, 0.0f, dxg_.data() + r0 * d_, d_);
  }
  return dxg_;
}

void ExpertMLPs::collect_parameters(std::vector<Parameter*>& out) {
  out.push_back(&w1);
  out.push_back(&b1);
  out.push_back(&w2);
  out.push_back(&b2);
}

}  // namespace peer
