// Op table rows for core/ (see op_table.h): Linear, Embedding, LayerNorm, BatchNorm, attention,
// dropout, activations, cross-entropy, and the dense FFN slot (moe/dense_ffn.h, the slot every
// other FFN is compared with).
#include <cmath>

#include "core/nn/attention.h"
#include "core/nn/batchnorm.h"
#include "core/nn/cross_entropy.h"
#include "core/nn/dropout.h"
#include "core/nn/embedding.h"
#include "core/nn/layernorm.h"
#include "core/nn/linear.h"
#include "core/ops/activation.h"
#include "core/rng.h"
#include "moe/dense_ffn.h"
#include "tests/gradcheck.h"
#include "tests/op_table.h"

namespace peer::optable {

using gradcheck::fill_normal;
using gradcheck::random_tensor;

namespace {

class LinearOp : public GradOp {
 public:
  LinearOp(int64_t N, int64_t in, int64_t out, bool bias, uint64_t seed)
      : lin("lin", in, out, bias), x(random_tensor({N, in}, seed, 3)), w(random_tensor({N, out}, seed, 4)) {
    fill_normal(lin.weight.value, seed, 1, 0.5f);
    if (bias) fill_normal(lin.bias.value, seed, 2, 0.5f);
  }
  double loss() override { return project(lin.forward(x), w); }
  std::vector<Operand> backward() override {
    lin.zero_grad();
    return with_params({input("x", x, lin.backward(w))}, lin);
  }
  void to(Device d) override { move_to(d, lin, {&x, &w}); }

  Linear lin;
  Tensor x, w;
};

class EmbeddingOp : public GradOp {
 public:
  EmbeddingOp(int64_t num, int64_t dim, std::vector<int32_t> ids, uint64_t seed)
      : emb("emb", num, dim), ids(std::move(ids)), w(random_tensor({int64_t(this->ids.size()), dim}, seed, 2)) {
    fill_normal(emb.weight.value, seed, 1);
  }
  double loss() override { return project(emb.forward(ids.data(), int64_t(ids.size())), w); }
  std::vector<Operand> backward() override {
    emb.zero_grad();
    emb.backward(w);
    return {param(emb.weight)};
  }
  void to(Device d) override { move_to(d, emb, {&w}); }  // ids stay on the host

  Embedding emb;
  std::vector<int32_t> ids;
  Tensor w;
};

class LayerNormOp : public GradOp {
 public:
  LayerNormOp(int64_t N, int64_t d, uint64_t seed)
      : ln("ln", d), x(random_tensor({N, d}, seed, 3, 2.0f, 0.7f)), w(random_tensor({N, d}, seed, 4)) {
    fill_normal(ln.weight.value, seed, 1, 0.3f, 1.0f);
    fill_normal(ln.bias.value, seed, 2, 0.2f);
  }
  double loss() override { return project(ln.forward(x), w); }
  std::vector<Operand> backward() override {
    ln.zero_grad();
    return with_params({input("x", x, ln.backward(w))}, ln);
  }
  void to(Device d) override { move_to(d, ln, {&x, &w}); }

  LayerNorm ln;
  Tensor x, w;  // x: non-zero mean, non-unit variance
};

// Training mode: batch statistics, which couple the rows.
class BatchNormOp : public GradOp {
 public:
  BatchNormOp(int64_t N, int64_t F, uint64_t seed)
      : bn("bn", F), x(random_tensor({N, F}, seed, 3, 2.0f, 0.7f)), w(random_tensor({N, F}, seed, 4)) {
    fill_normal(bn.weight.value, seed, 1, 0.3f, 1.0f);
    fill_normal(bn.bias.value, seed, 2, 0.2f);
  }
  double loss() override { return project(bn.forward(x, true), w); }
  std::vector<Operand> backward() override {
    bn.zero_grad();
    return with_params({input("x", x, bn.backward(w))}, bn);
  }
  void to(Device d) override { move_to(d, bn, {&x, &w}); }

  BatchNorm1d bn;
  Tensor x, w;
};

// Dropout masks depend only on (seed, stream, step): every forward at one step drops the same
// elements, so the loss is smooth in the inputs and finite differences are valid.
class AttentionOp : public GradOp {
 public:
  AttentionOp(int64_t B, int64_t T, int64_t C, int64_t H, float dropout, uint64_t seed)
      : attn("attn", C, H, dropout, seed, kStreamLayer),
        B(B),
        T(T),
        x(random_tensor({B * T, C}, seed, 2)),
        w(random_tensor({B * T, C}, seed, 3)) {
    attn.init(InitScheme::Kaiming, seed);
    fill_normal(attn.proj.bias.value, seed, 1, 0.3f);
  }
  double loss() override { return project(attn.forward(x, B, T, true, kStep), w); }
  std::vector<Operand> backward() override {
    attn.zero_grad();
    return with_params({input("x", x, attn.backward(w))}, attn);
  }
  void to(Device d) override { move_to(d, attn, {&x, &w}); }

  static constexpr uint64_t kStep = 7;
  CausalSelfAttention attn;
  int64_t B, T;
  Tensor x, w;
};

class DropoutOp : public GradOp {
 public:
  DropoutOp(int64_t n, float p, uint64_t seed)
      : drop(p, seed, kStreamLayer), x(random_tensor({n}, seed, 1)), y({n}), dx({n}), w(random_tensor({n}, seed, 2)) {}
  double loss() override {
    drop.forward(x, y, true, 3);
    return project(y, w);
  }
  std::vector<Operand> backward() override {
    drop.backward(w, dx);
    return {input("x", x, dx)};
  }

  Dropout drop;
  Tensor x, y, dx, w;
};

// ReLU inputs are at least 0.1 away from the kink at 0 while the step is 1e-2 * max(1, |x|) <
// |x|, so no difference crosses it.
class ActivationOp : public GradOp {
 public:
  ActivationOp(Activation act, int64_t n, uint64_t seed)
      : act(act), x({n}), y({n}), dx({n}), w(random_tensor({n}, seed, 1)) {
    Philox rng(seed, 2);
    if (act == Activation::GELU) fill_normal(x, seed, 3, 2.0f);
    else
      for (int64_t i = 0; i < n; ++i) x[i] = (i % 2 ? -1.0f : 1.0f) * (0.1f + std::fabs(rng.normal(uint64_t(i))));
  }
  double loss() override {
    activation_forward(act, x.data(), y.data(), x.numel());
    return project(y, w);
  }
  std::vector<Operand> backward() override {
    activation_backward(act, x.data(), w.data(), dx.data(), x.numel());
    return {input("x", x, dx)};
  }

  Activation act;
  Tensor x, y, dx, w;
};

// The loss is the op's own scalar (mean cross-entropy), so no projection.
class CrossEntropyOp : public GradOp {
 public:
  CrossEntropyOp(int64_t N, int64_t V, uint64_t seed) : logits(random_tensor({N, V}, seed, 1, 2.0f)), targets(N) {
    Philox rng(seed, 2);
    for (int64_t i = 0; i < N; ++i) targets[i] = int32_t(rng.below(uint64_t(V), uint64_t(i)));
  }
  double loss() override { return cross_entropy(logits, targets.data(), nullptr); }
  std::vector<Operand> backward() override {
    cross_entropy(logits, targets.data(), &dlogits);
    return {input("logits", logits, dlogits)};
  }
  void to(Device d) override { logits = logits.to(d); }  // targets stay on the host

  Tensor logits, dlogits;
  std::vector<int32_t> targets;
};

class DenseFFNOp : public GradOp {
 public:
  DenseFFNOp(int64_t N, int64_t d, int64_t d_ff, Activation act, float dropout, uint64_t seed)
      : ffn("ffn", d, d_ff, act, dropout, InitScheme::Kaiming, seed, kStreamLayer + 2),
        act(act),
        x(random_tensor({N, d}, seed, 3)),
        w(random_tensor({N, d}, seed, 4)) {
    fill_normal(ffn.fc.bias.value, seed, 1, 0.3f);
    fill_normal(ffn.out.bias.value, seed, 2, 0.3f);
  }
  double loss() override { return project(ffn.forward(x, true, 3), w); }
  std::vector<Operand> backward() override {
    ffn.zero_grad();
    return with_params({input("x", x, ffn.backward(w))}, ffn);
  }
  void to(Device d) override { move_to(d, ffn, {&x, &w}); }
  // fc.forward(x) is the float computation the layer does, so its signs are the layer's ReLU mask.
  std::vector<uint8_t> kinks() override {
    if (act != Activation::ReLU) return {};
    const Tensor& pre = ffn.fc.forward(x);
    std::vector<uint8_t> m(pre.numel());
    for (int64_t i = 0; i < pre.numel(); ++i) m[i] = pre[i] > 0.0f;
    return m;
  }

  DenseFFN ffn;
  Activation act;
  Tensor x, w;
};

// ---- Rows ---------------------------------------------------------------------------------

Case linear(int64_t N, int64_t in, int64_t out, bool bias, std::vector<uint64_t> seeds, Tolerance tol) {
  return grad_row<LinearOp>(cat("linear N=", N, " in=", in, " out=", out, bias ? " bias" : ""), seeds, tol, N, N, in,
                            out, bias);
}

Case embedding(int64_t num, int64_t dim, std::vector<int32_t> ids, std::vector<uint64_t> seeds, Tolerance tol) {
  const int64_t n = int64_t(ids.size());
  return grad_row<EmbeddingOp>(cat("embedding num=", num, " dim=", dim, " ids=", n), seeds, tol, n, num, dim, ids);
}

Case layernorm(int64_t N, int64_t d, std::vector<uint64_t> seeds, Tolerance tol) {
  return grad_row<LayerNormOp>(cat("layernorm N=", N, " d=", d), seeds, tol, N, N, d);
}

Case batchnorm(int64_t N, int64_t F, std::vector<uint64_t> seeds, Tolerance tol) {
  return grad_row<BatchNormOp>(cat("batchnorm(train) N=", N, " F=", F), seeds, tol, N, N, F);
}

Case attention(int64_t B, int64_t T, int64_t C, int64_t H, float dropout, std::vector<uint64_t> seeds, Tolerance tol) {
  return grad_row<AttentionOp>(cat("attention B=", B, " T=", T, " C=", C, " H=", H, " dropout=", dropout), seeds, tol,
                               B * T, B, T, C, H, dropout);
}

Case dropout(int64_t n, float p, std::vector<uint64_t> seeds, Tolerance tol) {
  return grad_row<DropoutOp>(cat("dropout(train) n=", n, " p=", p), seeds, tol, n, n, p);
}

Case activation(Activation act, int64_t n, std::vector<uint64_t> seeds, Tolerance tol) {
  return grad_row<ActivationOp>(cat(activation_name(act), " n=", n), seeds, tol, n, act, n);
}

Case cross_entropy_row(int64_t N, int64_t V, std::vector<uint64_t> seeds, Tolerance tol) {
  return grad_row<CrossEntropyOp>(cat("cross_entropy N=", N, " V=", V), seeds, tol, N, N, V);
}

Case dense_ffn(int64_t N, int64_t d, int64_t d_ff, Activation act, float dropout, std::vector<uint64_t> seeds,
               Tolerance tol) {
  return grad_row<DenseFFNOp>(
      cat("dense_ffn N=", N, " d=", d, " d_ff=", d_ff, " ", activation_name(act), " dropout=", dropout), seeds, tol, N,
      N, d, d_ff, act, dropout);
}

// Float32 forward, double loss: the noise floor of a central difference with h = 1e-2 is about
// 1e-5 for these sizes, so atol 1e-3 and rtol 1e-2 leave a wide margin while catching any wrong
// term (which is typically O(|gradient|)).
constexpr Tolerance kFd = {1e-3, 1e-2, 1e-2f, 64, 0.0};
// The same, where a perturbation may flip a ReLU: at most 1 in 8 elements skipped.
constexpr Tolerance kFdReLU = {1e-3, 1e-2, 1e-2f, 64, 0.125};

}  // namespace

std::vector<Case> core_cases() {
  // Ids 0, 1 and 3 repeat (3 five times); row 2 is never used, so its gradient must be zero.
  const std::vector<int32_t> ids = {0, 3, 3, 1, 0, 3, 4, 1, 3, 0, 1, 3};
  return {
      linear(5, 7, 6, true, {101, 102, 103}, kFd),
      linear(5, 7, 6, false, {101, 102, 103}, kFd),
      embedding(5, 4, ids, {201, 202, 203}, kFd),
      layernorm(4, 10, {301, 302, 303}, kFd),
      batchnorm(8, 6, {311, 312}, kFd),
      attention(2, 5, 8, 2, 0.0f, {401, 402, 403}, kFd),
      attention(2, 5, 8, 2, 0.1f, {411, 412, 413}, kFd),
      // Head sizes 12 and 16 with 19 positions: score rows span several 8-float vectors and the
      // head dimension has whole vectors with and without a remainder (core/simd.h paths).
      attention(2, 19, 24, 2, 0.0f, {431}, kFd),
      attention(2, 19, 24, 2, 0.1f, {431}, kFd),
      attention(1, 19, 32, 2, 0.0f, {431}, kFd),
      attention(1, 19, 32, 2, 0.1f, {431}, kFd),
      dropout(40, 0.3f, {451, 452}, kFd),
      activation(Activation::ReLU, 64, {501, 502, 503}, kFd),
      activation(Activation::GELU, 64, {501, 502, 503}, kFd),
      cross_entropy_row(6, 9, {601, 602, 603}, kFd),
      dense_ffn(6, 8, 16, Activation::GELU, 0.0f, {701, 702, 703}, kFd),
      dense_ffn(6, 8, 16, Activation::ReLU, 0.0f, {711, 712, 713}, kFdReLU),
      dense_ffn(6, 8, 16, Activation::GELU, 0.1f, {721, 722}, kFd),
  };
}

std::vector<Case> core_perf_cases() {
  const int64_t N = 4096, d = 256;  // tokens of a (8, 512) batch, a small model's width
  std::vector<int32_t> ids(N);
  for (int64_t i = 0; i < N; ++i) ids[i] = int32_t(i * 7919 % 1024);
  return {
      linear(N, d, 4 * d, true, {1}, kFd),
      embedding(1024, d, ids, {1}, kFd),
      layernorm(N, d, {1}, kFd),
      batchnorm(N, d, {1}, kFd),
      attention(8, 512, d, 8, 0.1f, {1}, kFd),
      dropout(N * d, 0.1f, {1}, kFd),
      activation(Activation::GELU, N * 4 * d, {1}, kFd),
      cross_entropy_row(N, 256, {1}, kFd),
      dense_ffn(N, d, 4 * d, Activation::GELU, 0.1f, {1}, kFd),
  };
}

}  // namespace peer::optable
