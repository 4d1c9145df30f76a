// Dropout and cross-entropy on the GPU against the CPU reference, on fresh random inputs. Dropout
// draws the CPU's Philox numbers with the CPU's rule, so masks and outputs must be identical;
// cross-entropy sums in another order (a tree per row) and uses the device's exp and log, so it
// is held to atol + rtol * |ref|. Every mismatch is counted and the worst reported, per op and
// shape, instead of stopping at the first.
#include <catch2/catch.hpp>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include "core/nn/dropout.h"
#include "core/ops/cross_entropy.h"
#include "core/ops/dropout.h"
#include "core/rng.h"
#include "core/tensor.h"

using namespace peer;

namespace {

struct Tolerance {
  double atol, rtol;
};

// Elementwise |got - want| <= atol + rtol * |want| (NaN only where want is NaN); returns "" or a
// report naming the op, the shape, the failing count, the worst error and the first failures.
template <class T>
std::string compare(const std::string& op, const Tensor& shape_of, const T* got, const T* want, int64_t n,
                    Tolerance tol) {
  int64_t failed = 0, worst = -1;
  double max_err = 0.0;
  std::ostringstream first;
  for (int64_t i = 0; i < n; ++i) {
    const double g = double(got[i]), w = double(want[i]), err = std::fabs(g - w);
    const bool ok = std::isnan(w) ? std::isnan(g) : err <= tol.atol + tol.rtol * std::fabs(w);
    if (ok) continue;
    if (failed < 5) first << " [" << i << "] got " << g << " want " << w << ";";
    ++failed;
    if (!(err <= max_err)) max_err = err, worst = i;
  }
  if (!failed) return "";
  std::ostringstream out;
  out << op << " " << shape_of.shape_str() << ": " << failed << " of " << n << " elements fail (atol " << tol.atol
      << ", rtol " << tol.rtol << "), max error " << max_err << " at " << worst << ";" << first.str();
  return out.str();
}

Tensor random_logits(int64_t n, int64_t v, uint64_t seed) {
  Tensor z({n, v});
  const Philox rng(seed, 1);
  for (int64_t i = 0; i < n * v; ++i) z[i] = 3.0f * rng.normal(uint64_t(i));
  return z;
}

Tensor random_targets(int64_t n, int64_t v, uint64_t seed) {
  Tensor t({n}, Device::CPU, DType::I32);
  const Philox rng(seed, 2);
  for (int64_t i = 0; i < n; ++i) t.data_i32()[i] = int32_t(rng.below(uint64_t(v), uint64_t(i)));
  return t;
}

}  // namespace

TEST_CASE("gpu dropout: masks, outputs and gradients equal the CPU's bit for bit", "[gpu][dropout]") {
  std::vector<std::string> failures;
  for (const float p : {0.1f, 0.5f, 0.9f})
    for (const int64_t n : {int64_t(1), int64_t(7), int64_t(1000), int64_t(16384 * 3 + 5), int64_t(1) << 20})
      for (const uint64_t step : {uint64_t(0), uint64_t(123456)}) {
        const std::string op = "dropout p=" + std::to_string(p) + " step=" + std::to_string(step);
        const Philox rng(uint64_t(n) + step, 7);
        Tensor x({n}), dy({n});
        for (int64_t i = 0; i < n; ++i) {
          x[i] = rng.normal(uint64_t(i));
          dy[i] = rng.normal(uint64_t(n + i));
        }
        const DropoutRule rule = dropout_rule(p, 42, kStreamLayer + 1, step);
        Tensor y, mask, dx;
        dropout_forward(x, y, mask, rule);
        dropout_backward(dy, mask, dx);
        Tensor xd = x.to(Device::CUDA), dyd = dy.to(Device::CUDA), yd, maskd, dxd;
        dropout_forward(xd, yd, maskd, rule);
        dropout_backward(dyd, maskd, dxd);
        CHECK(yd.device() == Device::CUDA);
        CHECK(maskd.device() == Device::CUDA);
        const Tensor yh = yd.to(Device::CPU), mh = maskd.to(Device::CPU), dxh = dxd.to(Device::CPU);
        for (const std::string& f : {compare(op + " y", x, yh.data(), y.data(), n, {0, 0}),
                                     compare(op + " mask", x, mh.data(), mask.data(), n, {0, 0}),
                                     compare(op + " dx", x, dxh.data(), dx.data(), n, {0, 0})})
          if (!f.empty()) failures.push_back(f);
        // In place on the device gives the same.
        dropout_forward(xd, xd, maskd, rule);
        const Tensor inplace = xd.to(Device::CPU);
        const std::string f = compare(op + " in place", x, inplace.data(), y.data(), n, {0, 0});
        if (!f.empty()) failures.push_back(f);
      }
  for (const auto& f : failures) UNSCOPED_INFO(f);
  CHECK(failures.empty());
}

TEST_CASE("gpu dropout: the Dropout layer keeps its mask on the input's device", "[gpu][dropout]") {
  const int64_t n = 5000;
  Dropout cpu(0.25f, 3, kStreamLayer), gpu(0.25f, 3, kStreamLayer);
  Tensor x({n}), dy({n});
  for (int64_t i = 0; i < n; ++i) x[i] = dy[i] = 1.0f + float(i % 11);
  Tensor y, dx, yd, dxd;
  cpu.forward(x, y, true, 9);
  cpu.backward(dy, dx);
  gpu.forward(x.to(Device::CUDA), yd, true, 9);
  gpu.backward(dy.to(Device::CUDA), dxd);
  CHECK(yd.device() == Device::CUDA);
  const Tensor yh = yd.to(Device::CPU), dxh = dxd.to(Device::CPU);
  const std::string f = compare("Dropout y", x, yh.data(), y.data(), n, {0, 0}) +
                        compare("Dropout dx", x, dxh.data(), dx.data(), n, {0, 0});
  INFO(f);
  CHECK(f.empty());
}

TEST_CASE("gpu cross_entropy: row losses, mean and gradient match the CPU; repeated runs are identical",
          "[gpu][cross_entropy]") {
  // Double sums in another order and the device's exp/log: a few ulps of a double; the float
  // gradient may round the other way: one float ulp.
  const Tolerance loss_tol{1e-10, 1e-10}, grad_tol{1e-9, 1.2e-7};
  std::vector<std::string> failures;
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{1, 1}, {3, 7}, {37, 1000}, {512, 65}, {64, 50304}, {2000, 257}};
  uint64_t seed = 1;
  for (const auto& [n, v] : shapes) {
    const std::string op = "cross_entropy";
    const Tensor z = random_logits(n, v, seed), t = random_targets(n, v, seed);
    ++seed;
    Tensor row_loss, loss, dz;
    cross_entropy(z, t, row_loss, loss, &dz, 0.5f);
    const Tensor zd = z.to(Device::CUDA), td = t.to(Device::CUDA);
    Tensor row_loss_d, loss_d, dz_d;
    cross_entropy(zd, td, row_loss_d, loss_d, &dz_d, 0.5f);
    CHECK(loss_d.device() == Device::CUDA);
    const Tensor rl = row_loss_d.to(Device::CPU), l = loss_d.to(Device::CPU), g = dz_d.to(Device::CPU);
    for (const std::string& f :
         {compare(op + " row_loss", z, rl.data_f64(), row_loss.data_f64(), n, loss_tol),
          compare(op + " loss", z, l.data_f64(), loss.data_f64(), 1, loss_tol),
          compare(op + " dlogits", z, g.data(), dz.data(), n * v, grad_tol)})
      if (!f.empty()) failures.push_back(f);
    // Determinism: a second run gives the same bits.
    Tensor row_loss_2, loss_2, dz_2;
    cross_entropy(zd, td, row_loss_2, loss_2, &dz_2, 0.5f);
    const Tensor l2 = loss_2.to(Device::CPU), g2 = dz_2.to(Device::CPU);
    for (const std::string& f : {compare(op + " rerun loss", z, l2.data_f64(), l.data_f64(), 1, {0, 0}),
                                 compare(op + " rerun dlogits", z, g2.data(), g.data(), n * v, {0, 0})})
      if (!f.empty()) failures.push_back(f);
  }
  for (const auto& f : failures) UNSCOPED_INFO(f);
  CHECK(failures.empty());
}

TEST_CASE("gpu cross_entropy: a target outside the vocabulary makes its row and the mean NaN", "[gpu][cross_entropy]") {
  const int64_t n = 4, v = 10;
  Tensor z = random_logits(n, v, 77), t = random_targets(n, v, 77);
  t.data_i32()[2] = int32_t(v);
  Tensor row_loss, loss, dz;
  cross_entropy(z.to(Device::CUDA), t.to(Device::CUDA), row_loss, loss, &dz, 1.0f);
  const Tensor rl = row_loss.to(Device::CPU), l = loss.to(Device::CPU), g = dz.to(Device::CPU);
  CHECK(std::isnan(rl.data_f64()[2]));
  CHECK(!std::isnan(rl.data_f64()[1]));
  CHECK(std::isnan(l.data_f64()[0]));
  CHECK(std::isnan(g[2 * v]));
  CHECK(!std::isnan(g[0]));
}
