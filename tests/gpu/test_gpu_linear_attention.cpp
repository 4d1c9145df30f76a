// CUDA against CPU for the dense step's ops: cuBLAS GEMM and column sums, Linear, Embedding, the
// residual add and the fused causal attention, on fresh random inputs; and the same bits on CUDA
// run after run. Tolerances: |cuda - cpu| <= atol + rtol * |cpu| per element. Float32 sums of up
// to ~500 terms of O(1) values differ between orders by about sqrt(K) * 6e-8 relative (1.5e-6
// here), expf by an ulp or two; atol = rtol = 1e-4 leaves some 50x of margin and still catches a
// wrong term, which is O(|value|).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "core/gemm.h"
#include "core/nn/attention.h"
#include "core/nn/embedding.h"
#include "core/nn/linear.h"
#include "core/ops/add.h"
#include "core/ops/attention.h"
#include "tests/gradcheck.h"

using namespace peer;
using gradcheck::fill_normal;
using gradcheck::random_tensor;

namespace {

constexpr double kAtol = 1e-4, kRtol = 1e-4;

// Checks every element and reports, for an operand with failures, the op, its shape, how many
// elements fail, the largest error and up to 8 of the failing elements (all, not the first only).
void expect_close(const std::string& op, const Tensor& cuda_result, const Tensor& cpu_result, double atol = kAtol,
                  double rtol = kRtol) {
  const Tensor got = cuda_result.to(Device::CPU);
  REQUIRE(got.shape() == cpu_result.shape());
  int64_t bad = 0;
  double max_err = 0.0;
  std::string shown;
  for (int64_t i = 0; i < got.numel(); ++i) {
    const double want = cpu_result[i], err = std::fabs(double(got[i]) - want);
    if (!(err <= max_err)) max_err = err;  // NaN sticks
    if (err <= atol + rtol * std::fabs(want)) continue;
    if (++bad <= 8) {
      char buf[128];
      std::snprintf(buf, sizeof buf, " [%lld] cuda %.9g cpu %.9g;", (long long)i, got[i], want);
      shown += buf;
    }
  }
  INFO(op << " " << got.shape_str() << ": " << bad << " of " << got.numel() << " elements outside " << atol << " + "
          << rtol << " |cpu|, max error " << max_err << ";" << shown);
  CHECK(bad == 0);
}

void expect_same_bits(const std::string& what, const Tensor& a, const Tensor& b) {
  const Tensor x = a.to(Device::CPU), y = b.to(Device::CPU);
  INFO(what << " " << x.shape_str());
  REQUIRE(x.shape() == y.shape());
  CHECK(std::memcmp(x.data(), y.data(), x.nbytes()) == 0);
}

}  // namespace

TEST_CASE("gpu gemm: cuBLAS matches the CPU GEMM for every transpose, leading dimension, alpha and beta", "[gpu]") {
  struct Shape {
    int64_t M, N, K;
  };
  uint64_t seed = 100;
  for (Shape s : {Shape{1, 1, 1}, Shape{7, 13, 5}, Shape{64, 96, 128}, Shape{300, 257, 129}, Shape{33, 17, 0}})
    for (int t = 0; t < 4; ++t)
      for (float beta : {0.0f, 1.0f, -0.5f}) {
        const bool ta = t & 1, tb = t & 2;
        const int64_t pad = 3;  // leading dimensions past the row length
        const int64_t lda = (ta ? s.M : s.K) + pad, ldb = (tb ? s.K : s.N) + pad, ldc = s.N + pad;
        Tensor A = random_tensor({ta ? s.K : s.M, lda}, ++seed, 1), B = random_tensor({tb ? s.N : s.K, ldb}, seed, 2);
        Tensor C = random_tensor({s.M, ldc}, seed, 3);
        Tensor dA = A.to(Device::CUDA), dB = B.to(Device::CUDA), dC = C.to(Device::CUDA);
        const float alpha = 0.75f;
        gemm(ta, tb, s.M, s.N, s.K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
        cuda::gemm(ta, tb, s.M, s.N, s.K, alpha, dA.data(), lda, dB.data(), ldb, beta, dC.data(), ldc);
        expect_close("gemm M" + std::to_string(s.M) + " N" + std::to_string(s.N) + " K" + std::to_string(s.K) +
                         (ta ? " A^T" : "") + (tb ? " B^T" : "") + " beta " + std::to_string(beta),
                     dC, C);
      }
}

TEST_CASE("gpu add_column_sums: matches the CPU's row-by-row sums and accumulates", "[gpu]") {
  for (int64_t rows : {1, 63, 64, 65, 1000, 4099})
    for (int64_t cols : {1, 300}) {
      const int64_t ld = cols + 5;
      Tensor dy = random_tensor({rows, ld}, 200 + rows, uint64_t(cols)), out = random_tensor({cols}, 200 + rows, 7);
      Tensor d_dy = dy.to(Device::CUDA), d_out = out.to(Device::CUDA);
      add_column_sums(dy.data(), rows, cols, ld, out.data());
      cuda::add_column_sums(d_dy.data(), rows, cols, ld, d_out.data());
      // Sums of up to 4099 N(0, 1) terms: values ~64, order differences ~64 * 64 * 6e-8.
      expect_close("add_column_sums rows " + std::to_string(rows) + " cols " + std::to_string(cols), d_out, out, 1e-3);
    }
}

TEST_CASE("gpu Linear: forward and backward match the CPU layer, with and without bias, frozen too", "[gpu]") {
  const int64_t N = 37, in = 48, out = 80;
  for (bool has_bias : {true, false})
    for (bool frozen : {false, true}) {
      const std::string name = std::string("linear") + (has_bias ? "" : " nobias") + (frozen ? " frozen" : "");
      Linear cpu("l", in, out, has_bias), gpu("l", in, out, has_bias);
      cpu.init(InitScheme::Kaiming, 301);
      gpu.weight.value.copy_from(cpu.weight.value);
      if (has_bias) {
        fill_normal(cpu.bias.value, 301, 1);
        gpu.bias.value.copy_from(cpu.bias.value);
      }
      cpu.set_frozen(frozen);
      gpu.set_frozen(frozen);
      gpu.to(Device::CUDA);
      Tensor x = random_tensor({N, in}, 301, 2), dy = random_tensor({N, out}, 301, 3);
      Tensor x_gpu = x.to(Device::CUDA), dy_gpu = dy.to(Device::CUDA);
      expect_close(name + " y", gpu.forward(x_gpu), cpu.forward(x));
      for (int pass = 1; pass <= 2; ++pass) {  // the second backward accumulates onto the first
        const std::string at = name + " backward " + std::to_string(pass);
        expect_close(at + " dx", gpu.backward(dy_gpu), cpu.backward(dy));
        expect_close(at + " dW", gpu.weight.grad, cpu.weight.grad);
        if (has_bias) expect_close(at + " db", gpu.bias.grad, cpu.bias.grad);
      }
    }
  Linear l("l", 4, 3, true);
  l.to(Device::CUDA);
  CHECK_THROWS_AS(l.forward(Tensor({2, 4})), std::invalid_argument);  // host input, device weights
}

TEST_CASE("gpu Embedding: rows and gradients equal the CPU's bit for bit; device ids; bad ids give NaN", "[gpu]") {
  const int64_t num = 67, dim = 40;
  std::vector<int32_t> ids(500);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((i * i * 7 + 3) % (num - 1));  // row num-1 unused
  const int64_t n = int64_t(ids.size());
  Tensor host_ids({n}, Device::CPU, DType::I32);
  std::copy(ids.begin(), ids.end(), host_ids.data_i32());
  Embedding cpu("e", num, dim), gpu("e", num, dim);
  fill_normal(cpu.weight.value, 401, 1);
  fill_normal(cpu.weight.grad, 401, 2);  // the gradient accumulates onto what is there
  gpu.weight.value.copy_from(cpu.weight.value);
  gpu.weight.grad.copy_from(cpu.weight.grad);
  gpu.to(Device::CUDA);
  Tensor dy = random_tensor({n, dim}, 401, 3);
  // Gathers copy, and each gradient element adds its rows in id order on both devices.
  expect_same_bits("embedding y (device ids)", gpu.forward(host_ids.to(Device::CUDA)), cpu.forward(ids.data(), n));
  gpu.backward(dy.to(Device::CUDA));
  cpu.backward(dy);
  expect_same_bits("embedding dW", gpu.weight.grad, cpu.weight.grad);
  expect_same_bits("embedding y (host ids)", gpu.forward(ids.data(), n), cpu.forward(ids.data(), n));
  Tensor bad_ids({2}, Device::CPU, DType::I32);  // an id past the table, then a good one
  bad_ids.data_i32()[0] = int32_t(num);
  bad_ids.data_i32()[1] = 1;
  const Tensor y = gpu.forward(bad_ids.to(Device::CUDA)).to(Device::CPU);
  CHECK(std::isnan(y[0]));
  CHECK(y[dim] == cpu.weight.value[dim]);
}

TEST_CASE("gpu add: the residual sum equals the CPU's bit for bit", "[gpu]") {
  Tensor a = random_tensor({129, 77}, 501, 1), b = random_tensor({129, 77}, 501, 2), out, d_out;
  add(a, b, out);
  add(a.to(Device::CUDA), b.to(Device::CUDA), d_out);
  CHECK(d_out.device() == Device::CUDA);
  expect_same_bits("add", d_out, out);
}

namespace {

// A CausalSelfAttention on each device with the same weights and dropout: forward, backward and
// every parameter gradient compared.
struct AttentionPair {
  AttentionPair(int64_t C, int64_t H, uint64_t seed, float dropout = 0.0f)
      : cpu("attn", C, H, dropout, seed, kStreamLayer), gpu("attn", C, H, dropout, seed, kStreamLayer) {
    cpu.init(InitScheme::Kaiming, seed);
    fill_normal(cpu.proj.bias.value, seed, 1, 0.3f);
    std::vector<Parameter*> from = cpu.parameters(), to = gpu.parameters();
    for (size_t i = 0; i < from.size(); ++i) to[i]->value.copy_from(from[i]->value);
    gpu.to(Device::CUDA);
  }
  CausalSelfAttention cpu, gpu;
};

}  // namespace

TEST_CASE("gpu attention: fused forward and backward match the CPU layer (no dropout)", "[gpu]") {
  struct Shape {
    int64_t B, T, C, H;
  };
  uint64_t seed = 600;
  for (Shape s : {Shape{2, 1, 16, 2}, Shape{3, 7, 24, 3}, Shape{2, 64, 128, 8}, Shape{2, 33, 64, 1},
                  Shape{1, 256, 512, 4}, Shape{4, 256, 256, 8}}) {
    const std::string name = "attention B" + std::to_string(s.B) + " T" + std::to_string(s.T) + " C" +
                             std::to_string(s.C) + " H" + std::to_string(s.H);
    AttentionPair a(s.C, s.H, ++seed);
    Tensor x = random_tensor({s.B * s.T, s.C}, seed, 2), dy = random_tensor({s.B * s.T, s.C}, seed, 3);
    Tensor x_gpu = x.to(Device::CUDA), dy_gpu = dy.to(Device::CUDA);
    expect_close(name + " y", a.gpu.forward(x_gpu, s.B, s.T, true, 0), a.cpu.forward(x, s.B, s.T, true, 0));
    expect_close(name + " dx", a.gpu.backward(dy_gpu), a.cpu.backward(dy));
    std::vector<Parameter*> pc = a.cpu.parameters(), pg = a.gpu.parameters();
    for (size_t i = 0; i < pc.size(); ++i) expect_close(name + " " + pc[i]->name + ".grad", pg[i]->grad, pc[i]->grad);
  }
}

TEST_CASE("gpu attention: the same bits run after run", "[gpu][determinism]") {
  const int64_t B = 3, T = 200, C = 192, H = 6;
  Tensor x = random_tensor({B * T, C}, 701, 2).to(Device::CUDA), dy = random_tensor({B * T, C}, 701, 3).to(Device::CUDA);
  auto run = [&] {
    AttentionPair a(C, H, 701);
    std::vector<Tensor> out = {a.gpu.forward(x, B, T, true, 0).clone(), a.gpu.backward(dy).clone()};
    for (Parameter* p : a.gpu.parameters()) out.push_back(p->grad.clone());
    return out;
  };
  const std::vector<Tensor> first = run(), second = run();
  for (size_t i = 0; i < first.size(); ++i) expect_same_bits("attention output " + std::to_string(i), second[i], first[i]);
}

TEST_CASE("gpu attention: dropout 0.1 in training drops the CPU's weights, forward and backward", "[gpu]") {
  struct Shape {
    int64_t B, T, C, H;
  };
  uint64_t seed = 800;
  for (Shape s : {Shape{2, 1, 16, 2}, Shape{3, 7, 24, 3}, Shape{2, 64, 128, 8}, Shape{1, 256, 512, 4}}) {
    const std::string name = "attention dropout B" + std::to_string(s.B) + " T" + std::to_string(s.T) + " C" +
                             std::to_string(s.C) + " H" + std::to_string(s.H);
    const uint64_t step = 3;
    // The op: probs, the dropped weights (zeros in the same places), outputs and gradients.
    Tensor qkv = random_tensor({s.B * s.T, 3 * s.C}, ++seed, 1), datt = random_tensor({s.B * s.T, s.C}, seed, 2);
    Tensor qkv_gpu = qkv.to(Device::CUDA), datt_gpu = datt.to(Device::CUDA);
    const DropoutRule rule = dropout_rule(0.1f, seed, kStreamLayer, step);
    Tensor mask, probs, dropped, att, dprobs, dqkv, g_mask, g_probs, g_dropped, g_att, g_dprobs, g_dqkv;
    attention_forward(qkv, s.B, s.T, s.H, &rule, mask, probs, dropped, att);
    attention_forward(qkv_gpu, s.B, s.T, s.H, &rule, g_mask, g_probs, g_dropped, g_att);
    attention_backward(qkv, probs, dropped, &rule, mask, datt, s.B, s.T, s.H, dprobs, dqkv);
    attention_backward(qkv_gpu, g_probs, g_dropped, &rule, g_mask, datt_gpu, s.B, s.T, s.H, g_dprobs, g_dqkv);
    const Tensor d = g_dropped.to(Device::CPU);
    int64_t pattern = 0, zeros = 0;
    for (int64_t e = 0; e < d.numel(); ++e) {
      pattern += (d[e] == 0.0f) != (dropped[e] == 0.0f);
      zeros += dropped[e] == 0.0f && probs[e] != 0.0f;
    }
    INFO(name << ": " << pattern << " weights zero on one device only, " << zeros << " dropped");
    CHECK(pattern == 0);
    CHECK((s.T < 7 || zeros > 0));  // T = 1 may keep its single weight
    expect_close(name + " probs", g_probs, probs);
    expect_close(name + " dropped", g_dropped, dropped);
    expect_close(name + " att", g_att, att);
    expect_close(name + " dprobs", g_dprobs, dprobs);
    expect_close(name + " dqkv", g_dqkv, dqkv);
    // The layer: a CUDA training step with dropout runs and matches the CPU's.
    AttentionPair a(s.C, s.H, seed, 0.1f);
    Tensor x = random_tensor({s.B * s.T, s.C}, seed, 3), dy = random_tensor({s.B * s.T, s.C}, seed, 4);
    Tensor x_gpu = x.to(Device::CUDA), dy_gpu = dy.to(Device::CUDA);
    expect_close(name + " y", a.gpu.forward(x_gpu, s.B, s.T, true, step), a.cpu.forward(x, s.B, s.T, true, step));
    expect_close(name + " dx", a.gpu.backward(dy_gpu), a.cpu.backward(dy));
    std::vector<Parameter*> pc = a.cpu.parameters(), pg = a.gpu.parameters();
    for (size_t i = 0; i < pc.size(); ++i) expect_close(name + " " + pc[i]->name + ".grad", pg[i]->grad, pc[i]->grad);
  }
}
