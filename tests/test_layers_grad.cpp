// Layers beyond their single-op gradients (those are rows of the op table, test_op_table.cpp):
// the accumulation rule, forward values, the properties a gradient check does not see (dropout
// masks active, parameter names, thread-count independence), the whole model's gradient against
// finite differences (see gradcheck.h for the method), and the gradient check itself.
// Tolerances are stated per test as |analytic - numeric| <= atol + rtol * |numeric|.
#include <catch2/catch.hpp>

#include <cmath>
#include <memory>
#include <vector>

#include "core/nn/attention.h"
#include "core/nn/cross_entropy.h"
#include "core/nn/embedding.h"
#include "core/nn/layernorm.h"
#include "core/nn/linear.h"
#include "core/nn/transformer.h"
#include "core/ops/activation.h"
#include "core/rng.h"
#include "moe/dense_ffn.h"
#include "tests/gradcheck.h"
#include "tests/thread_guard.h"

using namespace peer;
using gradcheck::copy_of;
using gradcheck::fill_normal;
using gradcheck::project;
using gradcheck::random_tensor;

namespace {

// Float32 forward, double loss: the noise floor of a central difference with h = 1e-2 is about
// 1e-5 for these sizes, so atol 1e-3 and rtol 1e-2 leave a wide margin while catching any
// wrong term (which is typically O(|gradient|)).
constexpr double kAtol = 1e-3;
constexpr double kRtol = 1e-2;
constexpr float kEps = 1e-2f;

gradcheck::Options options(uint64_t seed) {
  gradcheck::Options o;
  o.atol = kAtol;
  o.rtol = kRtol;
  o.eps = kEps;
  o.max_elements = 64;
  o.seed = seed;
  return o;
}

}  // namespace

// ---- Linear ---------------------------------------------------------------------------------

TEST_CASE("Linear: parameter gradients accumulate, input gradients overwrite, frozen skips", "[grad][linear]") {
  const uint64_t seed = 111;
  Linear lin("lin", 4, 3, true);
  fill_normal(lin.weight.value, seed, 1);
  Tensor x = random_tensor({2, 4}, seed, 2);
  Tensor dy = random_tensor({2, 3}, seed, 3);
  lin.zero_grad();
  lin.forward(x);
  std::vector<float> dx1 = copy_of(lin.backward(dy));
  std::vector<float> w1 = copy_of(lin.weight.grad), b1 = copy_of(lin.bias.grad);
  std::vector<float> dx2 = copy_of(lin.backward(dy));
  for (int64_t i = 0; i < lin.weight.grad.numel(); ++i) CHECK(lin.weight.grad[i] == Approx(2 * w1[i]).margin(1e-6));
  for (int64_t i = 0; i < lin.bias.grad.numel(); ++i) CHECK(lin.bias.grad[i] == Approx(2 * b1[i]).margin(1e-6));
  CHECK(dx1 == dx2);

  lin.zero_grad();
  lin.set_frozen(true);
  lin.forward(x);
  std::vector<float> dx3 = copy_of(lin.backward(dy));
  CHECK(dx3 == dx1);  // the input gradient is still computed
  for (int64_t i = 0; i < lin.weight.grad.numel(); ++i) CHECK(lin.weight.grad[i] == 0.0f);
  for (int64_t i = 0; i < lin.bias.grad.numel(); ++i) CHECK(lin.bias.grad[i] == 0.0f);
  CHECK(Linear("nobias", 4, 3, false).parameters().size() == 1);
}

// ---- Embedding ------------------------------------------------------------------------------

TEST_CASE("Embedding: forward copies the rows of the ids; an unused row gets no gradient", "[embedding]") {
  const int64_t num = 5, dim = 4;
  const std::vector<int32_t> ids = {0, 3, 3, 1, 0, 3, 4, 1, 3, 0, 1, 3};  // row 2 unused
  const int64_t n = int64_t(ids.size());
  Embedding emb("emb", num, dim);
  fill_normal(emb.weight.value, 201, 1);
  emb.zero_grad();
  const Tensor& y = emb.forward(ids.data(), n);
  REQUIRE(y.shape() == std::vector<int64_t>{n, dim});
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < dim; ++j) REQUIRE(y[i * dim + j] == emb.weight.value[ids[i] * dim + j]);
  emb.backward(random_tensor({n, dim}, 201, 2));
  for (int64_t j = 0; j < dim; ++j) CHECK(emb.weight.grad[2 * dim + j] == 0.0f);
}

TEST_CASE("Embedding: out-of-range ids are rejected", "[embedding]") {
  Embedding emb("emb", 3, 2);
  const int32_t bad[] = {0, 3};
  CHECK_THROWS_AS(emb.forward(bad, 2), std::out_of_range);
  const int32_t neg[] = {-1};
  CHECK_THROWS_AS(emb.forward(neg, 1), std::out_of_range);
}

// ---- LayerNorm ------------------------------------------------------------------------------

TEST_CASE("LayerNorm: forward normalises each row", "[layernorm]") {
  const int64_t N = 3, d = 16;
  LayerNorm ln("ln", d);  // weight 1, bias 0
  Tensor x = random_tensor({N, d}, 311, 1, 3.0f, -2.0f);
  const Tensor& y = ln.forward(x);
  for (int64_t i = 0; i < N; ++i) {
    double m = 0, v = 0;
    for (int64_t j = 0; j < d; ++j) m += y[i * d + j];
    m /= d;
    for (int64_t j = 0; j < d; ++j) v += (y[i * d + j] - m) * (y[i * d + j] - m);
    v /= d;
    CHECK(m == Approx(0.0).margin(1e-5));
    CHECK(v == Approx(1.0).epsilon(1e-3));  // var / (var + 1e-5) with var ~ 9
  }
}

TEST_CASE("LayerNorm, cross_entropy and attention give bit-identical results on 1 and 3 threads",
          "[layernorm][cross_entropy][attention]") {
  // Sizes above both layers' threading thresholds; 3 threads do not divide the 8 column blocks
  // of LayerNorm's parameter gradients evenly.
  const int64_t N = 300, d = 128, V = 65;
  Tensor x = random_tensor({N, d}, 321, 1, 2.0f, 0.5f), dy = random_tensor({N, d}, 321, 2);
  Tensor logits = random_tensor({N, V}, 321, 3, 2.0f);
  std::vector<int32_t> targets(N);
  for (int64_t i = 0; i < N; ++i) targets[i] = int32_t(i * 7 % V);
  auto run = [&](int threads) {
    ThreadGuard guard(threads);
    LayerNorm ln("ln", d);
    fill_normal(ln.weight.value, 321, 4, 0.3f, 1.0f);
    ln.zero_grad();
    ln.forward(x);
    std::vector<std::vector<float>> out = {copy_of(ln.backward(dy)), copy_of(ln.weight.grad), copy_of(ln.bias.grad)};
    Tensor dlogits;
    const double loss = cross_entropy(logits, targets.data(), &dlogits);
    out.push_back(copy_of(dlogits));
    out.push_back({float(loss), float(loss - double(float(loss)))});
    // Attention with dropout over 10 sequences x 30 positions: heads are scheduled dynamically.
    CausalSelfAttention attn("attn", d, 8, 0.1f, 321, kStreamLayer);
    attn.init(InitScheme::Kaiming, 321);
    attn.zero_grad();
    out.push_back(copy_of(attn.forward(x, 10, 30, true, 5)));
    out.push_back(copy_of(attn.backward(dy)));
    for (Parameter* p : attn.parameters()) out.push_back(copy_of(p->grad));
    return out;
  };
  CHECK(run(1) == run(3));
}

// ---- CausalSelfAttention --------------------------------------------------------------------

TEST_CASE("CausalSelfAttention: parameters by name; the dropout mask is active in training and fixed by the step",
          "[attention]") {
  const int64_t B = 2, T = 5, C = 8, H = 2;
  CausalSelfAttention attn("attn", C, H, 0.1f, 411, kStreamLayer);
  attn.init(InitScheme::Kaiming, 411);
  std::vector<Parameter*> params = attn.parameters();
  REQUIRE(params.size() == 3);  // qkv.weight (no bias), proj.weight, proj.bias
  CHECK(params[0]->name == "attn.qkv.weight");
  CHECK(params[1]->name == "attn.proj.weight");
  CHECK(params[2]->name == "attn.proj.bias");
  // The op table's dropout rows rely on both: a mask that drops something, the same at one step.
  Tensor x = random_tensor({B * T, C}, 411, 2);
  std::vector<float> y_eval = copy_of(attn.forward(x, B, T, false, 7));
  std::vector<float> y_train = copy_of(attn.forward(x, B, T, true, 7));
  CHECK(y_eval != y_train);
  CHECK(copy_of(attn.forward(x, B, T, true, 7)) == y_train);
}

TEST_CASE("CausalSelfAttention: output at position t ignores later positions", "[attention]") {
  const int64_t B = 1, T = 6, C = 8, H = 2;
  CausalSelfAttention attn("attn", C, H, 0.0f, 421, kStreamLayer);
  attn.init(InitScheme::Kaiming, 421);
  Tensor x = random_tensor({B * T, C}, 421, 1);
  std::vector<float> y1 = copy_of(attn.forward(x, B, T, false, 0));
  for (int64_t j = 0; j < C; ++j) x[(T - 1) * C + j] += 1.0f;  // change only the last position
  std::vector<float> y2 = copy_of(attn.forward(x, B, T, false, 0));
  for (int64_t i = 0; i < (T - 1) * C; ++i) CHECK(y1[i] == y2[i]);
  bool last_changed = false;
  for (int64_t j = 0; j < C; ++j) last_changed |= y1[(T - 1) * C + j] != y2[(T - 1) * C + j];
  CHECK(last_changed);
}

TEST_CASE("CausalSelfAttention: n_embd not divisible by n_head is rejected", "[attention]") {
  CHECK_THROWS_AS(CausalSelfAttention("attn", 10, 3, 0.0f, 1, kStreamLayer), std::invalid_argument);
}

// ---- Activations ----------------------------------------------------------------------------

TEST_CASE("Activations: backward may run in place (dx aliases dy)", "[activation]") {
  const int64_t n = 64;
  Tensor x = random_tensor({n}, 501, 4, 2.0f), dy = random_tensor({n}, 501, 1);
  for (Activation act : {Activation::GELU, Activation::ReLU}) {
    std::vector<float> ref(n), inplace = copy_of(dy);
    activation_backward(act, x.data(), dy.data(), ref.data(), n);
    activation_backward(act, x.data(), inplace.data(), inplace.data(), n);
    CHECK(ref == inplace);
  }
}

TEST_CASE("Activations: known values", "[activation]") {
  // GELU(x) = x * Phi(x): Phi(1) = 0.8413447460685429.
  CHECK(activation_value(Activation::GELU, 1.0f) == Approx(0.8413447460685429).epsilon(1e-6));
  CHECK(activation_value(Activation::GELU, -1.0f) == Approx(-0.15865525393145707).epsilon(1e-6));
  CHECK(activation_value(Activation::GELU, 0.0f) == 0.0f);
  CHECK(activation_derivative(Activation::GELU, 0.0f) == Approx(0.5).epsilon(1e-6));
  CHECK(activation_value(Activation::ReLU, -2.0f) == 0.0f);
  CHECK(activation_value(Activation::ReLU, 2.5f) == 2.5f);
  CHECK(parse_activation("relu") == Activation::ReLU);
  CHECK(parse_activation("gelu") == Activation::GELU);
  CHECK_THROWS(parse_activation("tanh"));
}

// ---- Cross-entropy --------------------------------------------------------------------------

TEST_CASE("cross_entropy: gradient rows sum to zero; grad_scale scales the gradient, not the loss",
          "[cross_entropy]") {
  const int64_t N = 6, V = 9;
  Tensor logits = random_tensor({N, V}, 601, 1, 2.0f);
  std::vector<int32_t> targets(N);
  Philox rng(601, 2);
  for (int64_t i = 0; i < N; ++i) targets[i] = int32_t(rng.below(V, uint64_t(i)));
  Tensor dlogits;
  const double l0 = cross_entropy(logits, targets.data(), &dlogits);
  CHECK(l0 == cross_entropy(logits, targets.data(), nullptr));
  REQUIRE(dlogits.shape() == logits.shape());
  std::vector<float> g = copy_of(dlogits);
  // Each row of the gradient sums to zero (softmax minus one-hot, over N).
  for (int64_t i = 0; i < N; ++i) {
    double s = 0;
    for (int64_t j = 0; j < V; ++j) s += g[i * V + j];
    CHECK(s == Approx(0.0).margin(1e-6));
  }
  Tensor scaled;
  CHECK(cross_entropy(logits, targets.data(), &scaled, 0.5f) == l0);
  for (int64_t i = 0; i < N * V; ++i) CHECK(scaled[i] == Approx(0.5f * g[i]).margin(1e-7));
}

TEST_CASE("cross_entropy: known values and bad targets", "[cross_entropy]") {
  const int64_t N = 3, V = 7;
  Tensor logits({N, V});
  logits.fill(4.0f);  // uniform: loss log(V)
  std::vector<int32_t> targets = {0, 6, 3};
  CHECK(cross_entropy(logits, targets.data(), nullptr) == Approx(std::log(7.0)).epsilon(1e-12));
  // Huge logits must not overflow (max-subtracted): a confident correct row costs ~0.
  Tensor big({1, 3});
  big[0] = 1000.0f;
  big[1] = 0.0f;
  big[2] = -1000.0f;
  int32_t t0 = 0;
  CHECK(cross_entropy(big, &t0, nullptr) == Approx(0.0).margin(1e-12));
  int32_t bad = 7;
  Tensor one({1, V});
  CHECK_THROWS_AS(cross_entropy(one, &bad, nullptr), std::out_of_range);
}

// ---- DenseFFN -------------------------------------------------------------------------------

TEST_CASE("DenseFFN: parameters by name; the dropout mask is active in training", "[ffn]") {
  DenseFFN ffn("ffn", 8, 16, Activation::GELU, 0.1f, InitScheme::Kaiming, 721, kStreamLayer + 2);
  std::vector<Parameter*> params = ffn.parameters();
  REQUIRE(params.size() == 4);
  CHECK(params[0]->name == "ffn.fc.weight");
  CHECK(params[3]->name == "ffn.out.bias");
  Tensor x = random_tensor({6, 8}, 721, 3);
  std::vector<float> y_eval = copy_of(ffn.forward(x, false, 3));
  CHECK(y_eval != copy_of(ffn.forward(x, true, 3)));
}

// ---- Whole model ----------------------------------------------------------------------------

namespace {

void check_language_model(uint64_t seed, float dropout) {
  TransformerShape s;
  s.vocab_size = 11;
  s.n_embd = 16;
  s.n_head = 2;
  s.n_layer = 2;
  s.block_size = 8;
  s.dropout = dropout;
  s.init = InitScheme::Kaiming;
  s.seed = seed;
  const int64_t B = 2, T = 8;
  const uint64_t step = 5;
  FfnSlotFactory factory = [&](int64_t layer, const std::string& name) -> std::unique_ptr<FfnSlot> {
    return std::make_unique<DenseFFN>(name, s.n_embd, 4 * s.n_embd, Activation::GELU, s.dropout, s.init, s.seed,
                                      kStreamLayer + 16 * layer + 2);
  };
  LanguageModel model(s, factory);

  std::vector<int32_t> idx(B * T), targets(B * T);
  Philox rng(seed, kStreamData);
  for (int64_t i = 0; i < B * T; ++i) {
    idx[i] = int32_t(rng.below(uint64_t(s.vocab_size), uint64_t(2 * i)));
    targets[i] = int32_t(rng.below(uint64_t(s.vocab_size), uint64_t(2 * i + 1)));
  }
  auto loss = [&] { return model.forward(idx.data(), targets.data(), B, T, true, step); };

  std::vector<Parameter*> params = model.parameters();
  // wte, wpe, 2 x (ln1 2, qkv 1, proj 2, ln2 2, fc 2, out 2), ln_f 2, lm_head 2.
  REQUIRE(params.size() == 2 + 2 * 11 + 2 + 2);

  model.zero_grad();
  const double l0 = loss();
  CHECK(std::isfinite(l0));
  model.backward();
  // zero_grad then backward again gives the same gradients (backward accumulates into zeros).
  std::vector<std::vector<float>> first;
  for (Parameter* p : params) first.push_back(copy_of(p->grad));
  model.zero_grad();
  loss();
  model.backward();
  for (size_t k = 0; k < params.size(); ++k) CHECK(copy_of(params[k]->grad) == first[k]);

  const gradcheck::Options opt = options(seed);
  for (Parameter* p : params) REQUIRE_GRAD_OK(gradcheck::check_param(*p, loss, opt));
}

}  // namespace

TEST_CASE("LanguageModel: loss gradient w.r.t. every parameter matches finite differences", "[grad][model]") {
  const uint64_t seed = GENERATE(as<uint64_t>{}, 801, 802);
  CAPTURE(seed);
  check_language_model(seed, 0.0f);
}

TEST_CASE("LanguageModel: gradients with dropout 0.1 in train mode match finite differences", "[grad][model]") {
  const uint64_t seed = GENERATE(as<uint64_t>{}, 811);
  CAPTURE(seed);
  check_language_model(seed, 0.1f);
}

// ---- The harness itself ---------------------------------------------------------------------

TEST_CASE("gradcheck: a wrong analytical gradient is detected", "[grad][harness]") {
  const uint64_t seed = 901;
  LayerNorm ln("ln", 6);
  Tensor x = random_tensor({3, 6}, seed, 1, 1.5f, 0.3f);
  Tensor r = random_tensor({3, 6}, seed, 2);
  auto loss = [&] { return project(ln.forward(x), r); };
  ln.zero_grad();
  ln.forward(x);
  const std::vector<float> dx = copy_of(ln.backward(r));
  const auto opt = options(seed);
  REQUIRE(gradcheck::check_input("x", x, dx, loss, opt).failed == 0);

  std::vector<float> scaled = dx;  // 5% too large
  for (float& g : scaled) g *= 1.05f;
  CHECK(gradcheck::check_input("x*1.05", x, scaled, loss, opt).failed > 0);

  // dy passed straight through, as if the layer were the identity.
  std::vector<float> identity = copy_of(r);
  CHECK(gradcheck::check_input("identity", x, identity, loss, opt).failed > 0);

  // Subset selection: all elements when small, distinct sorted indices when large.
  CHECK(gradcheck::pick_elements(5, 64, 1).size() == 5);
  std::vector<int64_t> some = gradcheck::pick_elements(1000, 64, 1);
  REQUIRE(some.size() == 64);
  for (size_t i = 1; i < some.size(); ++i) CHECK(some[i - 1] < some[i]);
  CHECK(some.back() < 1000);
}
