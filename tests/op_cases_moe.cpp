// Op table rows for moe/ (see op_table.h): the routers with their aux losses, the dispatch of
// token rows to grouped rows and the gate-weighted combine back (each on its own, with and
// without capacity drops), the expert MLPs on a capacity-limited dispatch plan, the dense
// masked-experts oracle, and the whole sparse MoE layer (route, dispatch, experts, gate-weighted
// combine, shared expert, dropout).
// A CUDA plan's buffers hold N*k grouped rows (moe/dispatch.h): rows moved there are padded with
// zeros and results read back are cut to the kept rows, so both backends compare the same values.
#include <algorithm>

#include "core/rng.h"
#include "moe/masked_experts_oracle.h"
#include "moe/sparse_moe.h"
#include "tests/gradcheck.h"
#include "tests/op_table.h"

namespace peer::optable {

using gradcheck::random_tensor;

namespace {

const char* router_name(RouterKind k) {
  return k == RouterKind::TopK ? "topk" : k == RouterKind::NoisyTopK ? "noisy_topk" : "switch";
}

RouterOptions router_options(RouterKind kind, int64_t E, int64_t k = 2) {
  RouterOptions o;
  o.kind = kind;
  o.num_experts = E;
  o.top_k = kind == RouterKind::Switch ? 1 : k;
  o.load_balance_coef = 0.1f;
  o.importance_coef = 0.1f;
  o.z_loss_coef = 0.01f;
  return o;
}

// Router weights scaled up so that gates are far from uniform and top-k gaps are wide.
void sharpen(Router& r) {
  for (int64_t i = 0; i < r.gate.weight.value.numel(); ++i) r.gate.weight.value[i] *= 3.0f;
}

std::vector<uint8_t> choices(const Routing& r) {
  const Tensor e = r.expert.to(Device::CPU);
  return {e.data_i32(), e.data_i32() + e.numel()};
}

// Rows [0, n) of t (rows, d), on the host.
Tensor host_rows(const Tensor& t, int64_t n) {
  const Tensor h = t.to(Device::CPU);
  Tensor out({n, t.dim(1)});
  std::copy_n(h.data(), out.numel(), out.data());
  return out;
}

// t (n, d) with `rows` rows on device d, zeros past row n.
Tensor padded_rows(const Tensor& t, int64_t rows, Device d) {
  Tensor out({rows, t.dim(1)});
  std::copy_n(t.data(), t.numel(), out.data());
  return out.to(d);
}

Routing routing_on(const Routing& r, Device d) { return {r.tokens, r.k, r.expert.to(d), r.gate.to(d)}; }

// L = sum_a w_a gate_a + the aux losses. Noisy top-k draws its noise from Philox at (seed,
// stream, step), so the same step gives the same noise and the loss is smooth between flips.
class RouterOp : public GradOp {
 public:
  RouterOp(RouterKind kind, int64_t k, int64_t N, int64_t d, int64_t E, uint64_t seed)
      : router("router", d, router_options(kind, E, k), InitScheme::Kaiming, seed, kStreamLayer),
        x(random_tensor({N, d}, seed, 1)),
        w(random_tensor({N * router_options(kind, E, k).top_k}, seed, 2)) {
    sharpen(router);
  }
  double loss() override {
    const Tensor g = router.forward(x, true, 0).gate.to(Device::CPU), wh = w.to(Device::CPU);
    double s = router.aux().total();
    for (int64_t a = 0; a < g.numel(); ++a) s += double(g[a]) * wh[a];
    return s;
  }
  std::vector<Operand> backward() override {
    router.zero_grad();
    return with_params({input("x", x, router.backward(w))}, router);
  }
  void to(Device d) override { move_to(d, router, {&x, &w}); }
  std::vector<uint8_t> kinks() override { return choices(router.forward(x, true, 0)); }

  Router router;
  Tensor x, w;  // w (N*k): the gates' weights in the loss
};

// k distinct random experts per token with random gates (the gates only order capacity).
Routing random_routing(int64_t N, int64_t E, int64_t k, uint64_t seed) {
  Routing r{N, k, Tensor({N * k}, Device::CPU, DType::I32), Tensor({N * k})};
  int32_t* expert = r.expert.data_i32();
  Philox rng(seed, 5);
  uint64_t draw = 0;
  for (int64_t a = 0; a < N * k; ++a) {
    r.gate[a] = rng.uniform(draw++);
    const int32_t *first = expert + a - a % k, *here = expert + a;
    do expert[a] = int32_t(rng.below(uint64_t(E), draw++));
    while (std::find(first, here, expert[a]) != here);
  }
  return r;
}

// A random routing and its plan (remade on the device by to(): the device's plan_dispatch).
struct Planned {
  Planned(int64_t N, int64_t E, int64_t k, double cf, uint64_t seed)
      : routing(random_routing(N, E, k, seed)), plan(plan_dispatch(routing, E, expert_capacity(cf, N, k, E))),
        kept(plan.rows()) {}
  void to(Device d) {
    routing = routing_on(routing, d);
    plan_dispatch(routing, plan.num_experts, plan.capacity, plan);
  }
  int64_t assignments() const { return routing.tokens * routing.k; }

  Routing routing;
  DispatchPlan plan;
  int64_t kept;  // rows the CPU plan keeps
};

// Dispatch alone: xg (kept rows, d) = x[token[row]]; dx[t] sums the grouped rows of token t (the
// unweighted combine).
class DispatchOp : public GradOp {
 public:
  DispatchOp(int64_t N, int64_t d, int64_t E, int64_t k, double cf, uint64_t seed)
      : p(N, E, k, cf, seed), x(random_tensor({N, d}, seed, 1)), w_kept(random_tensor({p.kept, d}, seed, 2)), w(w_kept) {}
  double loss() override {
    dispatch_rows(x, p.plan, xg);
    return project(host_rows(xg, p.kept), w_kept);
  }
  std::vector<Operand> backward() override {
    combine_rows(w, nullptr, p.plan, p.routing.k, dx);
    return {input("x", x, dx)};
  }
  void to(Device d) override {
    p.to(d);
    x = x.to(d);
    w = padded_rows(w_kept, p.assignments(), d);
  }

  Planned p;
  Tensor x, w_kept, w, xg, dx;
};

// The gate-weighted combine alone: y[t] = sum of gate * grouped row over t's kept choices, with
// the gradients w.r.t. the grouped rows and the gates.
class CombineOp : public GradOp {
 public:
  CombineOp(int64_t N, int64_t d, int64_t E, int64_t k, double cf, uint64_t seed)
      : p(N, E, k, cf, seed),
        grouped_kept(random_tensor({p.kept, d}, seed, 1)),
        grouped(grouped_kept),
        gate(random_tensor({N * k}, seed, 3, 0.3f, 0.5f)),
        w(random_tensor({N, d}, seed, 2)) {}
  double loss() override {
    combine_rows(grouped, &gate, p.plan, p.routing.k, y);
    return project(y, w);
  }
  std::vector<Operand> backward() override {
    combine_rows_backward(w, grouped, gate, p.plan, p.routing.k, dgrouped, dgate);
    const Tensor dg = host_rows(dgrouped, p.kept);
    return {{"grouped", grouped_kept.data(), grouped_kept.numel(), gradcheck::copy_of(dg)}, input("gate", gate, dgate)};
  }
  void to(Device d) override {
    p.to(d);
    grouped = padded_rows(grouped_kept, p.assignments(), d);
    gate = gate.to(d);
    w = w.to(d);
  }

  Planned p;
  Tensor grouped_kept, grouped, gate, w, y, dgrouped, dgate;
};

// Dispatch (gather into each expert's rows, capacity drops) and the grouped expert GEMMs:
// y (rows, d) in the plan's order; dx[t] sums the grouped rows of token t.
class ExpertsOp : public GradOp {
 public:
  ExpertsOp(int64_t N, int64_t d, int64_t E, int64_t hidden, int64_t k, double cf, uint64_t seed)
      : experts("experts", E, d, hidden, Activation::GELU, InitScheme::Kaiming, seed),
        p(N, E, k, cf, seed),
        x(random_tensor({N, d}, seed, 1)),
        w_kept(random_tensor({p.kept, d}, seed, 2)),
        w(w_kept),
        dx({N, d}) {
    for (Parameter* q : {&experts.b1, &experts.b2}) gradcheck::fill_normal(q->value, seed, 3, 0.3f);
  }
  double loss() override { return project(host_rows(experts.forward(x, p.plan), p.kept), w_kept); }
  std::vector<Operand> backward() override {
    experts.zero_grad();
    const Tensor dxg = host_rows(experts.backward(w), p.kept);  // summed here, on the host
    const Tensor token = p.plan.token.to(Device::CPU);
    const int64_t d = x.dim(1);
    dx.zero();
    for (int64_t row = 0; row < p.kept; ++row)
      for (int64_t j = 0; j < d; ++j) dx[token.data_i32()[row] * d + j] += dxg[row * d + j];
    return with_params({input("x", x, dx)}, experts);
  }
  void to(Device d) override {
    move_to(d, experts, {&x});
    p.to(d);
    w = padded_rows(w_kept, p.assignments(), d);
  }

  ExpertMLPs experts;
  Planned p;
  Tensor x, w_kept, w, dx;
};

// The oracle: every expert on every token, y = sum_e G[:, e] * expert_e(x). G is an input too.
class MaskedExpertsOracleOp : public GradOp {
 public:
  MaskedExpertsOracleOp(int64_t N, int64_t d, int64_t E, int64_t hidden, uint64_t seed)
      : experts("experts", E, d, hidden, Activation::GELU, InitScheme::Kaiming, seed),
        x(random_tensor({N, d}, seed, 1)),
        gates(random_tensor({N, E}, seed, 3, 0.3f, 0.5f)),
        w(random_tensor({N, d}, seed, 2)) {}
  double loss() override { return project(oracle.forward(experts, x, gates), w); }
  std::vector<Operand> backward() override {
    experts.zero_grad();
    return with_params({input("x", x, oracle.backward(w, dgates)), input("gates", gates, dgates)}, experts);
  }
  void to(Device d) override { move_to(d, experts, {&x, &gates, &w}); }

  ExpertMLPs experts;
  MaskedExpertsOracle oracle;
  Tensor x, gates, dgates, w;
};

// L = sum(w * y) + aux loss. Choices and capacity drops are piecewise constant: the kinks.
class SparseMoEOp : public GradOp {
 public:
  SparseMoEOp(RouterKind kind, double cf, int64_t num_shared, float dropout, int64_t N, int64_t d, int64_t E,
              int64_t hidden, uint64_t seed)
      : moe("moe", d, options(kind, cf, num_shared, dropout, E, hidden), InitScheme::Kaiming, seed, kStreamLayer),
        x(random_tensor({N, d}, seed, 1)),
        w(random_tensor({N, d}, seed, 2)) {
    sharpen(moe.router);
  }
  double loss() override { return project(moe.forward(x, true, 0), w) + moe.aux_loss(); }
  std::vector<Operand> backward() override {
    moe.zero_grad();
    return with_params({input("x", x, moe.backward(w))}, moe);
  }
  void to(Device d) override { move_to(d, moe, {&x, &w}); }
  std::vector<uint8_t> kinks() override {
    std::vector<uint8_t> k = choices(moe.router.forward(x, true, 0));
    moe.forward(x, true, 0);
    const Tensor row_of = moe.plan().row_of.to(Device::CPU);
    for (int64_t a = 0; a < row_of.numel(); ++a) k.push_back(row_of.data_i32()[a] < 0);
    return k;
  }

  static MoEOptions options(RouterKind kind, double cf, int64_t num_shared, float dropout, int64_t E,
                            int64_t hidden) {
    MoEOptions o;
    o.router = router_options(kind, E);
    o.d_expert = hidden;
    o.activation = Activation::GELU;  // smooth: no kinks inside the experts
    o.capacity_factor = cf;
    o.num_shared = num_shared;
    o.dropout = dropout;
    return o;
  }

  SparseMoE moe;
  Tensor x, w;
};

// ---- Rows ---------------------------------------------------------------------------------

// k = 1 for topk and noisy_topk: the gate is a softmax over all experts (moe/router.h).
Case router(RouterKind kind, int64_t k, int64_t N, int64_t d, int64_t E, std::vector<uint64_t> seeds, Tolerance tol) {
  return grad_row<RouterOp>(cat("moe.router ", router_name(kind), " k=", k, " N=", N, " d=", d, " E=", E), seeds, tol,
                            N, kind, k, N, d, E);
}

Case experts(int64_t N, int64_t d, int64_t E, int64_t hidden, int64_t k, double cf, std::vector<uint64_t> seeds,
             Tolerance tol) {
  return grad_row<ExpertsOp>(
      cat("moe.dispatch+experts N=", N, " d=", d, " E=", E, " hidden=", hidden, " k=", k, " capacity_factor=", cf),
      seeds, tol, N, N, d, E, hidden, k, cf);
}

Case dispatch(int64_t N, int64_t d, int64_t E, int64_t k, double cf, std::vector<uint64_t> seeds, Tolerance tol) {
  return grad_row<DispatchOp>(cat("moe.dispatch N=", N, " d=", d, " E=", E, " k=", k, " capacity_factor=", cf), seeds,
                              tol, N, N, d, E, k, cf);
}

Case combine(int64_t N, int64_t d, int64_t E, int64_t k, double cf, std::vector<uint64_t> seeds, Tolerance tol) {
  return grad_row<CombineOp>(cat("moe.combine N=", N, " d=", d, " E=", E, " k=", k, " capacity_factor=", cf), seeds,
                             tol, N, N, d, E, k, cf);
}

Case dense_masked(int64_t N, int64_t d, int64_t E, int64_t hidden, std::vector<uint64_t> seeds, Tolerance tol) {
  return grad_row<MaskedExpertsOracleOp>(cat("moe.masked_experts_oracle N=", N, " d=", d, " E=", E, " hidden=", hidden),
                                        seeds, tol, N, N, d, E, hidden);
}

Case layer(RouterKind kind, double cf, int64_t shared, float dropout, int64_t N, int64_t d, int64_t E, int64_t hidden,
           std::vector<uint64_t> seeds, Tolerance tol) {
  return grad_row<SparseMoEOp>(cat("moe.layer ", router_name(kind), " capacity_factor=", cf, " shared=", shared,
                                   " dropout=", dropout, " N=", N, " d=", d, " E=", E, " hidden=", hidden),
                               seeds, tol, N, kind, cf, shared, dropout, N, d, E, hidden);
}

// Smooth pieces: the tolerance of core's rows (op_cases_core.cpp).
constexpr Tolerance kFd = {1e-3, 1e-2, 1e-2f, 64, 0.0};
// Through a router: float32 softmaxes and aux losses summed over all tokens add rounding, and a
// perturbation may flip a choice or a drop (at most half the tried elements skipped).
constexpr Tolerance kRouted = {2e-3, 2e-2, 1e-2f, 64, 0.5};

}  // namespace

std::vector<Case> moe_cases() {
  const int64_t N = 24, d = 8, E = 6, h = 5;
  std::vector<Case> rows = {
      dispatch(N, d, E, 2, 0.0, {41, 42}, kFd),
      dispatch(N, d, E, 2, 0.6, {41, 42}, kFd),  // drops
      combine(N, d, E, 2, 0.0, {43, 44}, kFd),
      combine(N, d, E, 2, 0.6, {43, 44}, kFd),
      combine(N, d, E, 1, 0.6, {45}, kFd),
      experts(N, d, E, h, 2, 0.0, {31, 32}, kFd),
      experts(N, d, E, h, 2, 0.6, {31, 32}, kFd),  // drops
      dense_masked(12, d, 4, h, {33}, kFd),
  };
  for (RouterKind kind : {RouterKind::TopK, RouterKind::NoisyTopK, RouterKind::Switch}) {
    for (int64_t k : {int64_t(1), int64_t(2)})
      if (k == 2 || kind != RouterKind::Switch) rows.push_back(router(kind, k, N, d, E, {21, 22}, kRouted));
    for (double cf : {0.0, 0.8}) rows.push_back(layer(kind, cf, 0, 0.0f, N, d, E, h, {21}, kRouted));
  }
  rows.push_back(layer(RouterKind::TopK, 1.25, 1, 0.1f, N, d, E, h, {23}, kRouted));
  return rows;
}

std::vector<Case> moe_perf_cases() {
  const int64_t N = 4096, d = 256, E = 8, h = 512;
  return {
      router(RouterKind::NoisyTopK, 2, N, d, E, {1}, kRouted),
      combine(N, d, E, 2, 1.25, {1}, kFd),
      experts(N, d, E, h, 2, 1.25, {1}, kFd),
      dense_masked(N, d, E, h, {1}, kFd),
      layer(RouterKind::TopK, 1.25, 0, 0.1f, N, d, E, h, {1}, kRouted),
  };
}

}  // namespace peer::optable
