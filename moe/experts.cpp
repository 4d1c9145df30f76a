#include "moe/experts.h"

#include <algorithm>
#include <vector>

#include "core/gemm.h"
#include "core/parallel.h"

namespace peer {

ExpertMLPs::ExpertMLPs(const std::string& name, int64_t num_experts, int64_t d, int64_t d_expert, Activation act,
                       InitScheme init, uint64_t seed)
    : w1(name + ".w1", {num_experts, d_expert, d}, true),
      b1(name + ".b1", {num_experts, d_expert}, false),
      w2(name + ".w2", {num_experts, d, d_expert}, true),
      b2(name + ".b2", {num_experts, d}, false),
      E_(num_experts),
      d_(d),
      d_expert_(d_expert),
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

// The units of parallel work. Experts are whole tasks unless one holds more than a thread's
// share of all rows (routing is often skewed): then it is cut into chunks of about that share,
// so that it does not leave the other threads idle. Splitting costs a little (each chunk packs
// the expert's weights again), hence the 256-row floor. A chunk's result is the same whichever
// thread runs it and however the expert was cut. Chunk i of c of expert e: rows r0 .. r0+n.
// Threads take chunks largest first (dynamic schedule), so that the last ones to start are small
// and the threads finish close together.
constexpr int64_t kMinChunkRows = 256;

struct Chunk {
  int64_t e, r0, n, i, c;
};

// Part i of c of a range of n is [part_begin(i, c, n), part_begin(i + 1, c, n)).
int64_t part_begin(int64_t i, int64_t c, int64_t n) { return i * n / c; }

std::vector<Chunk> chunks(const DispatchPlan& plan, int64_t E) {
  const int64_t most = std::max(kMinChunkRows, (plan.rows() + num_threads() - 1) / num_threads());
  std::vector<Chunk> out;
  for (int64_t e = 0; e < E; ++e) {
    const int64_t r0 = plan.offsets.data_i32()[e], n = plan.offsets.data_i32()[e + 1] - r0, c = (n + most - 1) / most;
    for (int64_t i = 0; i < c; ++i)
      out.push_back({e, r0 + part_begin(i, c, n), part_begin(i + 1, c, n) - part_begin(i, c, n), i, c});
  }
  std::stable_sort(out.begin(), out.end(), [](const Chunk& a, const Chunk& b) { return a.n > b.n; });
  return out;
}

}  // namespace

const Tensor& ExpertMLPs::forward(const Tensor& x, const DispatchPlan& plan) {
  plan_ = &plan;
  dispatch_rows(x, plan, xg_);
  if (x.device() == Device::CUDA) {
    forward_cuda(x);
    return y_;
  }
  const int64_t rows = plan.rows(), h = d_expert_;
  pre_.resize({rows, h});
  hidden_.resize({rows, h});
  y_.resize({rows, d_});
  const std::vector<Chunk> work = chunks(plan, E_);
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t w = 0; w < work.size(); ++w) {
    const int64_t e = work[w].e, r0 = work[w].r0, n = work[w].n;
    float* pre = pre_.data() + r0 * h;
    float* y = y_.data() + r0 * d_;
    for (int64_t r = 0; r < n; ++r) {
      std::copy_n(b1.value.data() + e * h, h, pre + r * h);
      std::copy_n(b2.value.data() + e * d_, d_, y + r * d_);
    }
    gemm(false, true, n, h, d_, 1.0f, xg_.data() + r0 * d_, d_, w1.value.data() + e * h * d_, d_, 1.0f, pre, h);
    activation_forward(act_, pre, hidden_.data() + r0 * h, n * h);
    gemm(false, true, n, d_, h, 1.0f, hidden_.data() + r0 * h, h, w2.value.data() + e * d_ * h, h, 1.0f, y, d_);
  }
  return y_;
}

// Input gradients chunk by chunk. Weight gradients: chunk i of c of expert e adds rows part i of
// c of its dW1, dW2 (and bias) gradients, over all of the expert's rows; an expert in one chunk
// does that in the same task, while its activations are still in cache, a split expert after
// all of its input gradients.
const Tensor& ExpertMLPs::backward(const Tensor& dy) {
  if (dy.device() == Device::CUDA) {
    backward_cuda(dy);
    return dxg_;
  }
  const DispatchPlan& plan = *plan_;
  const int64_t rows = plan.rows(), h = d_expert_;
  dhidden_.resize({rows, h});
  dxg_.resize({rows, d_});
  const std::vector<Chunk> work = chunks(plan, E_);
  const bool train = !w1.frozen;
  auto weight_grads = [&](const Chunk& ch) {
    const int64_t e = ch.e, r0 = plan.offsets.data_i32()[e], n = plan.offsets.data_i32()[e + 1] - r0;
    const float *g = dy.data() + r0 * d_, *dh = dhidden_.data() + r0 * h;
    // dW2 rows [a, b) of d: g[:, a..b)^T hidden; b2 the same columns of g.
    const int64_t a = part_begin(ch.i, ch.c, d_), b = part_begin(ch.i + 1, ch.c, d_);
    gemm(true, false, b - a, h, n, 1.0f, g + a, d_, hidden_.data() + r0 * h, h, 1.0f,
         w2.grad.data() + (e * d_ + a) * h, h);
    add_column_sums(g + a, n, b - a, d_, b2.grad.data() + e * d_ + a);
    // dW1 rows [a1, e1) of d_expert: dh[:, a1..e1)^T xg; b1 the same columns of dh.
    const int64_t a1 = part_begin(ch.i, ch.c, h), e1 = part_begin(ch.i + 1, ch.c, h);
    gemm(true, false, e1 - a1, d_, n, 1.0f, dh + a1, h, xg_.data() + r0 * d_, d_, 1.0f,
         w1.grad.data() + (e * h + a1) * d_, d_);
    add_column_sums(dh + a1, n, e1 - a1, h, b1.grad.data() + e * h + a1);
  };
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t w = 0; w < work.size(); ++w) {
    const int64_t e = work[w].e, r0 = work[w].r0, n = work[w].n;
    float* dh = dhidden_.data() + r0 * h;
    gemm(false, false, n, h, d_, 1.0f, dy.data() + r0 * d_, d_, w2.value.data() + e * d_ * h, h, 0.0f, dh, h);
    activation_backward(act_, pre_.data() + r0 * h, dh, dh, n * h);
    gemm(false, false, n, d_, h, 1.0f, dh, h, w1.value.data() + e * h * d_, d_, 0.0f, dxg_.data() + r0 * d_, d_);
    if (train && work[w].c == 1) weight_grads(work[w]);
  }
  if (train && std::any_of(work.begin(), work.end(), [](const Chunk& ch) { return ch.c > 1; })) {
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t w = 0; w < work.size(); ++w)
      if (work[w].c > 1) weight_grads(work[w]);
  }
  return dxg_;
}

// The same steps on the GPU, each one launch over all experts (the plan's row counts stay there).
void ExpertMLPs::forward_cuda(const Tensor& x) {
  cuda::grouped_linear(xg_, *plan_, w1.value, b1.value, pre_);
  activation_forward(act_, pre_, hidden_);
  cuda::grouped_linear(hidden_, *plan_, w2.value, b2.value, y_);
}

void ExpertMLPs::backward_cuda(const Tensor& dy) {
  cuda::grouped_linear_input_grad(dy, *plan_, w2.value, dhidden_);
  activation_backward(act_, pre_, dhidden_, dhidden_);
  cuda::grouped_linear_input_grad(dhidden_, *plan_, w1.value, dxg_);
  if (w1.frozen) return;
  cuda::grouped_linear_weight_grad(dy, hidden_, *plan_, w2.grad, b2.grad);
  cuda::grouped_linear_weight_grad(dhidden_, xg_, *plan_, w1.grad, b1.grad);
}

void ExpertMLPs::collect_parameters(std::vector<Parameter*>& out) {
  out.push_back(&w1);
  out.push_back(&b1);
  out.push_back(&w2);
  out.push_back(&b2);
}

}  // namespace peer
