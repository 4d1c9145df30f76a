#include "moe/masked_experts_oracle.h"

#include <algorithm>

#include "core/gemm.h"
#include "core/ops/backend.h"

namespace peer {

const Tensor& MaskedExpertsOracle::forward(ExpertMLPs& ex, const Tensor& x, const Tensor& gates) {
  require_cpu(x, "[moe.masked_experts_oracle forward]");
  require_cpu(gates, "[moe.masked_experts_oracle forward]");
  experts_ = &ex;
  x_ = &x;
  gates_ = &gates;
  const int64_t N = x.dim(0), d = x.dim(1), E = ex.num_experts(), h = ex.d_expert();
  pre_.resize({E, N, h});
  hidden_.resize({E, N, h});
  out_.resize({E, N, d});
  y_.resize({N, d});
  y_.zero();
  for (int64_t e = 0; e < E; ++e) {
    float *pre = pre_.data() + e * N * h, *out = out_.data() + e * N * d;
    for (int64_t t = 0; t < N; ++t) {
      std::copy_n(ex.b1.value.data() + e * h, h, pre + t * h);
      std::copy_n(ex.b2.value.data() + e * d, d, out + t * d);
    }
    gemm(false, true, N, h, d, 1.0f, x.data(), d, ex.w1.value.data() + e * h * d, d, 1.0f, pre, h);
    activation_forward(ex.activation(), pre, hidden_.data() + e * N * h, N * h);
    gemm(false, true, N, d, h, 1.0f, hidden_.data() + e * N * h, h, ex.w2.value.data() + e * d * h, h, 1.0f, out, d);
    for (int64_t t = 0; t < N; ++t)
      for (int64_t j = 0; j < d; ++j) y_[t * d + j] += gates[t * E + e] * out[t * d + j];
  }
  return y_;
}

const Tensor& MaskedExpertsOracle::backward(const Tensor& dy, Tensor& dgates) {
  require_cpu(dy, "[moe.masked_experts_oracle backward]");
  ExpertMLPs& ex = *experts_;
  const int64_t N = dy.dim(0), d = dy.dim(1), E = ex.num_experts(), h = ex.d_expert();
  dgates.resize({N, E});
  dx_.resize({N, d});
  dx_.zero();
  dout_.resize({N, d});
  dhidden_.resize({N, h});
  for (int64_t e = 0; e < E; ++e) {
    const float* out = out_.data() + e * N * d;
    for (int64_t t = 0; t < N; ++t) {
      float g = (*gates_)[t * E + e], dot = 0.0f;
      for (int64_t j = 0; j < d; ++j) {
        dot += dy[t * d + j] * out[t * d + j];
        dout_[t * d + j] = g * dy[t * d + j];
      }
      dgates[t * E + e] = dot;
    }
    gemm(true, false, d, h, N, 1.0f, dout_.data(), d, hidden_.data() + e * N * h, h, 1.0f,
         ex.w2.grad.data() + e * d * h, h);
    add_column_sums(dout_.data(), N, d, d, ex.b2.grad.data() + e * d);
    gemm(false, false, N, h, d, 1.0f, dout_.data(), d, ex.w2.value.data() + e * d * h, h, 0.0f, dhidden_.data(), h);
    activation_backward(ex.activation(), pre_.data() + e * N * h, dhidden_.data(), dhidden_.data(), N * h);
    gemm(true, false, h, d, N, 1.0f, dhidden_.data(), h, x_->data(), d, 1.0f, ex.w1.grad.data() + e * h * d, d);
    add_column_sums(dhidden_.data(), N, h, h, ex.b1.grad.data() + e * h);
    gemm(false, false, N, d, h, 1.0f, dhidden_.data(), h, ex.w1.value.data() + e * h * d, d, 1.0f, dx_.data(), d);
  }
  return dx_;
}

}  // namespace peer
