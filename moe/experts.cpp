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

namespace {

constexpr int64_t kChunkRows = 256;  // rows per parallel task: GEMMs of this size run near full speed

// The units of parallel work: every expert's rows cut into chunks of at most kChunkRows, so that
// one heavily loaded expert (routing is often skewed) does not leave threads idle. A chunk's
// result is the same whichever thread runs it. Chunk i of c of expert e: rows r0 .. r0+n.
struct Chunk {
  int64_t e, r0, n, i, c;
};

// Part i of c of a range of n is [part_begin(i, c, n), part_begin(i + 1, c, n)).
int64_t part_begin(int64_t i, int64_t c, int64_t n) { return i * n / c; }

std::vector<Chunk> chunks(const DispatchPlan& plan, int64_t E) {
  std::vector<Chunk> out;
  for (int64_t e = 0; e < E; ++e) {
    const int64_t r0 = plan.offsets[e], n = plan.offsets[e + 1] - r0, c = (n + kChunkRows - 1) / kChunkRows;
    for (int64_t i = 0; i < c; ++i)
      out.push_back({e, r0 + part_begin(i, c, n), part_begin(i + 1, c, n) - part_begin(i, c, n), i, c});
  }
  return out;
}

}  // namespace

const Tensor& ExpertMLPs::forward(const Tensor& x, const DispatchPlan& plan) {
  plan_ = &plan;
  const int64_t rows = plan.rows();
  xg_.resize({rows, d_});
  pre_.resize({rows, dx_});
  hidden_.resize({rows, dx_});
  y_.resize({rows, d_});
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) std::copy_n(x.data() + int64_t(plan.token[r]) * d_, d_, xg_.data() + r * d_);
  const std::vector<Chunk> work = chunks(plan, E_);
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t w = 0; w < work.size(); ++w) {
    const int64_t e = work[w].e, r0 = work[w].r0, n = work[w].n;
    float* pre = pre_.data() + r0 * dx_;
    float* y = y_.data() + r0 * d_;
    for (int64_t r = 0; r < n; ++r) {
      std::copy_n(b1.value.data() + e * dx_, dx_, pre + r * dx_);
      std::copy_n(b2.value.data() + e * d_, d_, y + r * d_);
    }
    gemm(false, true, n, dx_, d_, 1.0f, xg_.data() + r0 * d_, d_, w1.value.data() + e * dx_ * d_, d_, 1.0f, pre, dx_);
    activation_forward(act_, pre, hidden_.data() + r0 * dx_, n * dx_);
    gemm(false, true, n, d_, dx_, 1.0f, hidden_.data() + r0 * dx_, dx_, w2.value.data() + e * d_ * dx_, dx_, 1.0f, y,
         d_);
  }
  return y_;
}

// Input gradients chunk by chunk; then weight gradients, chunk i of c of expert e computing rows
// part i of c of its dW1, dW2 (and bias) gradients over all of the expert's rows.
const Tensor& ExpertMLPs::backward(const Tensor& dy) {
  const DispatchPlan& plan = *plan_;
  const int64_t rows = plan.rows();
  dhidden_.resize({rows, dx_});
  dxg_.resize({rows, d_});
  const std::vector<Chunk> work = chunks(plan, E_);
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t w = 0; w < work.size(); ++w) {
    const int64_t e = work[w].e, r0 = work[w].r0, n = work[w].n;
    float* dh = dhidden_.data() + r0 * dx_;
    gemm(false, false, n, dx_, d_, 1.0f, dy.data() + r0 * d_, d_, w2.value.data() + e * d_ * dx_, dx_, 0.0f, dh, dx_);
    activation_backward(act_, pre_.data() + r0 * dx_, dh, dh, n * dx_);
    gemm(false, false, n, d_, dx_, 1.0f, dh, dx_, w1.value.data() + e * dx_ * d_, d_, 0.0f, dxg_.data() + r0 * d_, d_);
  }
  if (w1.frozen) return dxg_;
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t w = 0; w < work.size(); ++w) {
    const int64_t e = work[w].e, i = work[w].i, c = work[w].c;
    const int64_t r0 = plan.offsets[e], n = plan.offsets[e + 1] - r0;
    const float *g = dy.data() + r0 * d_, *dh = dhidden_.data() + r0 * dx_;
    // dW2 rows [a, b) of d: g[:, a..b)^T hidden; b2 the same columns of g.
    const int64_t a = part_begin(i, c, d_), b = part_begin(i + 1, c, d_);
    gemm(true, false, b - a, dx_, n, 1.0f, g + a, d_, hidden_.data() + r0 * dx_, dx_, 1.0f,
         w2.grad.data() + (e * d_ + a) * dx_, dx_);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = a; j < b; ++j) b2.grad[e * d_ + j] += g[r * d_ + j];
    // dW1 rows [a1, b1) of d_expert: dh[:, a1..b1)^T xg; b1 the same columns of dh.
    const int64_t a1 = part_begin(i, c, dx_), e1 = part_begin(i + 1, c, dx_);
    gemm(true, false, e1 - a1, d_, n, 1.0f, dh + a1, dx_, xg_.data() + r0 * d_, d_, 1.0f,
         w1.grad.data() + (e * dx_ + a1) * d_, d_);
    for (int64_t r = 0; r < n; ++r)
      for (int64_t j = a1; j < e1; ++j) b1.grad[e * dx_ + j] += dh[r * dx_ + j];
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
