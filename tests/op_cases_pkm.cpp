// Op table rows for the product-key memory layers (see op_table.h): PKM (per-head or shared keys,
// query BatchNorm, output dropout), Memory+ (qk-normalisation, the silu gate W1 and W2), two
// Memory+ layers sharing one value table (its gradient is the sum over both), and the read-out
// of each against a brute-force reference that scores every one of the N keys.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "tests/op_table.h"
#include "tests/pkm_setup.h"

namespace peer::optable {

using gradcheck::random_tensor;

namespace {

// The retrieved rows as bytes: a perturbation that changes them changes a discrete choice.
void append_choices(const MemoryRead& r, std::vector<uint8_t>& out) {
  const std::vector<int32_t>& g = r.retrieved();
  const size_t at = out.size();
  out.resize(at + g.size() * sizeof(int32_t));
  std::memcpy(out.data() + at, g.data(), g.size() * sizeof(int32_t));
}

// One PKM or Memory+ layer; row-sparse keys and values are checked densified.
class MemoryOp : public GradOp {
 public:
  MemoryOp(MemoryShape s, bool plus, int64_t T, uint64_t seed)
      : x(random_tensor({T, s.d}, seed, 1)), w(random_tensor({T, s.d}, seed, 2)) {
    if (plus) L = make_memory_plus(s, seed);
    else L = make_pkm(s, seed);
  }
  double loss() override { return project(L->forward(x, true, 0), w); }
  std::vector<Operand> backward() override {
    L->zero_grad();
    return with_params({input("x", x, L->backward(w))}, *L);
  }
  std::vector<uint8_t> kinks() override {
    L->forward(x, true, 0);
    std::vector<uint8_t> out;
    auto* pkm = dynamic_cast<PkmLayer*>(L.get());
    append_choices(pkm ? pkm->read : static_cast<MemoryPlusLayer&>(*L).read, out);
    return out;
  }

  std::unique_ptr<FfnSlot> L;
  Tensor x, w;
};

// Two Memory+ layers in a row, y = B(A(x)), sharing A's value table (A lists it): the table's
// gradient must be the sum of both layers' contributions.
class SharedPoolOp : public GradOp {
 public:
  struct Pair : Module {
    std::unique_ptr<MemoryPlusLayer> a, b;
    void collect_parameters(std::vector<Parameter*>& out) override {
      a->collect_parameters(out);
      b->collect_parameters(out);
    }
  };
  SharedPoolOp(MemoryShape s, int64_t T, uint64_t seed)
      : x(random_tensor({T, s.d}, seed, 1)), w(random_tensor({T, s.d}, seed, 2)) {
    pair.a = make_memory_plus(s, seed, nullptr, true, "a");
    pair.b = make_memory_plus(s, seed + 1, pair.a->read.memory, false, "b");
  }
  double loss() override { return project(pair.b->forward(pair.a->forward(x, true, 0), true, 0), w); }
  std::vector<Operand> backward() override {
    pair.zero_grad();
    return with_params({input("x", x, pair.a->backward(pair.b->backward(w)))}, pair);
  }
  std::vector<uint8_t> kinks() override {
    loss();
    std::vector<uint8_t> out;
    append_choices(pair.a->read, out);
    append_choices(pair.b->read, out);
    return out;
  }

  Pair pair;
  Tensor x, w;
};

// ---- The brute-force reference --------------------------------------------------------------

// (x - mean) / sqrt(var + eps) of n values, in double.
std::vector<double> normalised(const float* x, int64_t n) {
  double m = 0.0, v = 0.0;
  for (int64_t j = 0; j < n; ++j) m += x[j];
  m /= double(n);
  for (int64_t j = 0; j < n; ++j) v += (x[j] - m) * (x[j] - m);
  const double rs = 1.0 / std::sqrt(v / double(n) + 1e-5);
  std::vector<double> out(n);
  for (int64_t j = 0; j < n; ++j) out[j] = (x[j] - m) * rs;
  return out;
}

// The read-out of one layer from its parameters, scoring all n1 * n2 keys of every head in
// double: (T, value_dim); chosen: (T*h, k) the rows read, best first. Layers without BatchNorm.
Tensor reference_read(const MemoryRead& r, const MemoryShape& s, const Tensor& x, std::vector<int32_t>& chosen) {
  const int64_t T = x.dim(0), H = s.heads, k = s.top_k, dk = s.d_key, half = dk / 2, n1 = s.keys.n1, n2 = s.keys.n2;
  const Tensor& W = r.query.weight.value;
  const Tensor& V = r.memory->values.value;
  const int64_t vd = V.dim(1);
  // Sub-key j of side `side` of key set `set`, as scoring sees it.
  auto key = [&](int side, int64_t set, int64_t j) {
    const Tensor& K = side == 0 ? r.keys1.value : r.keys2.value;
    const float* row = K.data() + (set * (side == 0 ? n1 : n2) + j) * half;
    std::vector<double> out = s.qk_norm ? normalised(row, half) : std::vector<double>(row, row + half);
    if (s.qk_norm)
      for (double& v : out) v /= std::sqrt(double(half));
    return out;
  };
  Tensor y({T, vd});
  chosen.assign(T * H * k, -1);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t h = 0; h < H; ++h) {
      std::vector<float> q(dk);
      for (int64_t j = 0; j < dk; ++j) {
        double acc = 0.0;
        for (int64_t i = 0; i < s.d; ++i) acc += double(W[(h * dk + j) * s.d + i]) * x[t * s.d + i];
        q[j] = float(acc);
      }
      std::vector<double> qd(q.begin(), q.end());
      if (s.qk_norm)
        for (int side = 0; side < 2; ++side) {
          std::vector<double> n = normalised(q.data() + side * half, half);
          for (int64_t j = 0; j < half; ++j)
            qd[side * half + j] = n[j] * r.query_norm->weight.value[j] + r.query_norm->bias.value[j];
        }
      const int64_t set = s.shared_keys ? 0 : h;
      std::vector<double> score(n1 * n2);
      for (int64_t i1 = 0; i1 < n1; ++i1)
        for (int64_t i2 = 0; i2 < n2; ++i2) {
          std::vector<double> c1 = key(0, set, i1), c2 = key(1, set, i2);
          double sc = 0.0;
          for (int64_t j = 0; j < half; ++j) sc += qd[j] * c1[j] + qd[half + j] * c2[j];
          score[i1 * n2 + i2] = sc;
        }
      std::vector<int32_t> order(n1 * n2);
      std::iota(order.begin(), order.end(), 0);
      std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return score[a] > score[b]; });
      double sum = 0.0;
      for (int64_t j = 0; j < k; ++j) sum += std::exp(score[order[j]] - score[order[0]]);
      for (int64_t j = 0; j < k; ++j) {
        chosen[(t * H + h) * k + j] = order[j];
        const double wj = std::exp(score[order[j]] - score[order[0]]) / sum;
        for (int64_t c = 0; c < vd; ++c) y[t * vd + c] += float(wj * V[order[j] * vd + c]);
      }
    }
  return y;
}

// The Memory+ output from the reference read-out: W2 (y * silu(W1 x + b1)) + b2.
Tensor reference_gate(const MemoryPlusLayer& L, const Tensor& x, const Tensor& y) {
  const int64_t T = x.dim(0), d = x.dim(1), vd = y.dim(1);
  Tensor z({T, d});
  for (int64_t t = 0; t < T; ++t) {
    std::vector<double> g(vd);
    for (int64_t c = 0; c < vd; ++c) {
      double pre = L.gate.bias.value[c];
      for (int64_t i = 0; i < d; ++i) pre += double(L.gate.weight.value[c * d + i]) * x[t * d + i];
      g[c] = double(y[t * vd + c]) * pre / (1.0 + std::exp(-pre));
    }
    for (int64_t o = 0; o < d; ++o) {
      double acc = L.out.bias.value[o];
      for (int64_t c = 0; c < vd; ++c) acc += double(L.out.weight.value[o * vd + c]) * g[c];
      z[t * d + o] = float(acc);
    }
  }
  return z;
}

class ReadoutOp : public ExactOp {
 public:
  ReadoutOp(MemoryShape s, bool plus, int64_t T, uint64_t seed) : s(s), x(random_tensor({T, s.d}, seed, 1)) {
    if (plus) plus_ = make_memory_plus(s, seed);
    else pkm_ = make_pkm(s, seed);
  }
  void run() override { layer().forward(x, true, 0); }
  std::string compare(double atol, double rtol) override {
    const Tensor& got = layer().forward(x, true, 0);
    const MemoryRead& r = plus_ ? plus_->read : pkm_->read;
    std::vector<int32_t> chosen;
    const Tensor y = reference_read(r, s, x, chosen);
    const Tensor want = plus_ ? reference_gate(*plus_, x, y) : y;
    std::string out = compare_values("output", got.data(), want.data(), want.numel(), atol, rtol);
    if (r.retrieved() != chosen) out += "retrieved rows differ from the brute-force top-k\n";
    return out;
  }
  FfnSlot& layer() { return plus_ ? static_cast<FfnSlot&>(*plus_) : static_cast<FfnSlot&>(*pkm_); }

  MemoryShape s;
  Tensor x;
  std::unique_ptr<PkmLayer> pkm_;
  std::unique_ptr<MemoryPlusLayer> plus_;
};

// ---- Rows ---------------------------------------------------------------------------------

// As PEER's rows (op_cases_peer.cpp): products of several float32 factors through a softmax; a
// step of 3e-3; retrieval flips may skip at most 1 in 5 tried elements.
constexpr Tolerance kMemory = {1e-3, 1e-2, 3e-3f, 1 << 20, 0.2};
// The reference sums in double, the layer in float: agreement to float rounding.
constexpr Tolerance kReadout = {1e-5, 1e-4, 0.0f, 0, 0.0};

std::string describe(const MemoryShape& s, bool plus, int64_t T) {
  return cat(plus ? "memory_plus" : "pkm", " T=", T, " d=", s.d, " heads=", s.heads, " k=", s.top_k,
             " d_key=", s.d_key, " keys=", s.keys.n1, "x", s.keys.n2, plus ? cat(" value_dim=", s.value_dim) : "",
             s.batchnorm ? " batchnorm" : "", s.shared_keys ? " shared_keys" : "", s.qk_norm ? " qk_norm" : "",
             s.dropout > 0.0f ? cat(" dropout=", s.dropout) : "");
}

Case layer(const MemoryShape& s, bool plus, int64_t T, std::vector<uint64_t> seeds) {
  return grad_row<MemoryOp>(describe(s, plus, T) + " layer", seeds, kMemory, T, s, plus, T);
}

Case readout(const MemoryShape& s, bool plus, int64_t T, std::vector<uint64_t> seeds) {
  return exact_row<ReadoutOp>(describe(s, plus, T) + " read-out vs brute force", seeds, kReadout, T, s, plus, T);
}

}  // namespace

std::vector<Case> pkm_cases() {
  //                       d  h  k  dk keys    vdim bn     shared qk
  const MemoryShape pkm = {6, 2, 3, 4, {8, 8}, 6, true, false, false},
                    pkm_plain = {6, 2, 3, 4, {8, 8}, 6, false, false, false},
                    pkm_shared = {6, 2, 3, 4, {8, 5}, 6, false, true, false},
                    pkm_dropped = {6, 2, 3, 4, {8, 8}, 6, true, false, false, 0.2f},
                    plus = {6, 2, 3, 8, {8, 8}, 5, true, false, true},
                    plus_plain = {6, 2, 3, 4, {6, 7}, 7, false, true, false},
                    plus_qk = {6, 2, 3, 8, {6, 7}, 5, false, false, true},
                    shared_pool = {6, 2, 3, 8, {8, 8}, 5, false, false, true};
  return {
      // Seeds whose queries sit at least a step away from most retrieval flips (a query net or
      // norm parameter moves every query: one near-tie anywhere skips it).
      layer(pkm, false, 10, {102, 105}),
      layer(pkm_shared, false, 10, {100, 101}),
      layer(pkm_dropped, false, 10, {102}),
      layer(plus, true, 10, {101, 106}),
      layer(plus_plain, true, 10, {101, 103}),
      grad_row<SharedPoolOp>(describe(shared_pool, true, 6) + " two layers sharing one value table", {104, 110}, kMemory,
                             6, shared_pool, int64_t(6)),
      readout(pkm_plain, false, 12, {91}),
      readout(pkm_shared, false, 12, {92}),
      readout(plus_plain, true, 12, {93}),
      readout(plus_qk, true, 12, {94}),
  };
}

std::vector<Case> pkm_perf_cases() {
  const MemoryShape pkm = {256, 4, 32, 128, {256, 256}, 256, true, false, false},
                    plus = {256, 4, 32, 128, {256, 256}, 512, false, false, true};
  return {layer(pkm, false, 4096, {1}), layer(plus, true, 4096, {1})};
}

}  // namespace peer::optable
