// Dropout (core/nn/dropout.h): the dropped fraction and scaling, the documented Philox mask rule,
// splits that equal the whole, and the identity in eval mode and at p = 0.
#include <catch2/catch.hpp>

#include <cmath>
#include <utility>
#include <vector>

#include "core/nn/dropout.h"
#include "core/ops/dropout.h"
#include "core/rng.h"

using namespace peer;

namespace {
std::vector<float> values(const Tensor& t) { return {t.data(), t.data() + t.numel()}; }
}  // namespace

TEST_CASE("Dropout: drops a fraction p, scales the rest, backward reuses the mask", "[dropout]") {
  const float p = GENERATE(0.1f, 0.5f);
  CAPTURE(p);
  const int64_t n = 100000;
  Dropout drop(p, 77, kStreamLayer);
  Tensor x({n}), y({n}), dy({n}), dx({n});
  Philox rng(78, 1);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = 1.0f + rng.uniform(uint64_t(i));  // never zero, so y == 0 means dropped
    dy[i] = rng.normal(uint64_t(i));
  }
  drop.forward(x, y, true, 3);
  int64_t dropped = 0;
  const float scale = 1.0f / (1.0f - p);
  for (int64_t i = 0; i < n; ++i) {
    if (y[i] == 0.0f) ++dropped;
    else REQUIRE(y[i] == x[i] * scale);
  }
  // Binomial standard deviation sqrt(p (1 - p) / n) <= 1.6e-3; the bound is ~5 of them.
  CHECK(std::fabs(double(dropped) / n - p) < 0.008);

  drop.backward(dy, dx);
  for (int64_t i = 0; i < n; ++i) REQUIRE(dx[i] == (y[i] == 0.0f ? 0.0f : dy[i] * scale));

  // In place (dx is dy) gives the same.
  Tensor inplace = dy.clone();
  drop.backward(inplace, inplace);
  CHECK(values(inplace) == values(dx));

  // The same step reproduces the mask; another step gives another one.
  Tensor y_same, y_next;
  drop.forward(x, y_same, true, 3);
  CHECK(values(y_same) == values(y));
  drop.forward(x, y_next, true, 4);
  CHECK(values(y_next) != values(y));
  // A different stream (another layer) gives another mask at the same step.
  Dropout other(p, 77, kStreamLayer + 16);
  Tensor y_other;
  other.forward(x, y_other, true, 3);
  CHECK(values(y_other) != values(y));
}

TEST_CASE("Dropout: the mask is the documented Philox rule, and parts in any split equal the whole", "[dropout]") {
  const float p = 0.3f;
  const int64_t n = 1000;
  const uint64_t step = 5;
  Dropout whole(p, 9, kStreamLayer + 3);
  Tensor x({n}), y;
  std::vector<float> y_parts(n, -1.0f);
  for (int64_t i = 0; i < n; ++i) x[i] = 1.0f + float(i % 7);
  whole.forward(x, y, true, step);
  const Philox rng(9, kStreamLayer + 3);
  int64_t wrong = 0;
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t word = rng.block((step << 32) + uint64_t(i / 8))[(i % 8) / 2];
    const bool keep = ((word >> (16 * (i % 2))) & 0xFFFFu) >= uint32_t(p * 65536.0f);
    wrong += y[i] != (keep ? x[i] * (1.0f / (1.0f - p)) : 0.0f);
  }
  CHECK(wrong == 0);
  // Ragged parts (not multiples of 8), applied out of order with the range functions an op uses
  // inside its own loops (attention), under the layer's rule.
  whole.start(true, step);
  const DropoutRule& rule = *whole.rule();
  std::vector<float> mask(n);
  const std::vector<std::pair<int64_t, int64_t>> ranges = {{503, 497}, {0, 3}, {3, 13}, {16, 487}};
  for (auto [first, count] : ranges)
    dropout_forward_range(x.data() + first, y_parts.data() + first, mask.data() + first, first, count, rule);
  CHECK(y_parts == values(y));
  Tensor dy({n}), dx_whole;
  dy.fill(1.0f);
  std::vector<float> dx_parts(n);
  whole.backward(dy, dx_whole);
  for (auto [first, count] : ranges)
    dropout_backward_range(dy.data() + first, mask.data() + first, dx_parts.data() + first, count);
  CHECK(dx_parts == values(dx_whole));
}

TEST_CASE("Dropout: identity in eval mode and when p = 0", "[dropout]") {
  const int64_t n = 1000;
  Tensor x({n}), y({n}), dy({n}), dx({n});
  y.fill(-1.0f);
  for (int64_t i = 0; i < n; ++i) {
    x[i] = float(i) + 0.5f;
    dy[i] = float(i) - 0.25f;
  }
  SECTION("eval") {
    Dropout drop(0.3f, 1, kStreamLayer);
    drop.forward(x, y, false, 0);
    CHECK(values(y) == values(x));
    drop.backward(dy, dx);
    CHECK(values(dx) == values(dy));
  }
  SECTION("eval after a training forward") {
    Dropout drop(0.3f, 1, kStreamLayer);
    drop.forward(x, y, true, 0);
    drop.forward(x, y, false, 0);
    CHECK(values(y) == values(x));
    drop.backward(dy, dx);
    CHECK(values(dx) == values(dy));
  }
  SECTION("p = 0 in training") {
    Dropout drop(0.0f, 1, kStreamLayer);
    drop.forward(x, y, true, 0);
    CHECK(values(y) == values(x));
    drop.backward(dy, dx);
    CHECK(values(dx) == values(dy));
  }
  SECTION("in place") {
    Dropout drop(0.3f, 1, kStreamLayer);
    Tensor z = x.clone();
    drop.forward(z, z, true, 9);
    drop.forward(x, y, true, 9);
    CHECK(values(z) == values(y));
  }
}
