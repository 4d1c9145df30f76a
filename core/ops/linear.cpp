#include "core/ops/linear.h"

#include <algorithm>

#include "core/gemm.h"

namespace peer {

namespace {

// core/gemm.h's GEMM and column sums for t's device (both take that device's pointers).
auto gemm_on(const Tensor& t) { return t.device() == Device::CUDA ? &cuda::gemm : &gemm; }
auto column_sums_on(const Tensor& t) { return t.device() == Device::CUDA ? &cuda::add_column_sums : &add_column_sums; }

void broadcast_rows(const Tensor& b, Tensor& y) {
  if (y.device() == Device::CUDA) return cuda::broadcast_rows(b, y);
  const int64_t n = y.dim(0), out = y.dim(1);
  for (int64_t i = 0; i < n; ++i) std::copy(b.data(), b.data() + out, y.data() + i * out);
}

}  // namespace

void linear_forward(const Tensor& x, const Tensor& W, const Tensor& b, Tensor& y) {
  const int64_t n = x.dim(0), in = x.dim(1), out = W.dim(0);
  y.resize({n, out}, x.device());
  if (!b.empty()) broadcast_rows(b, y);
  gemm_on(x)(false, true, n, out, in, 1.0f, x.data(), in, W.data(), in, b.empty() ? 0.0f : 1.0f, y.data(), out);
}

void linear_backward(const Tensor& dy, const Tensor& x, const Tensor& W, Tensor* dW, Tensor* db, Tensor& dx) {
  const int64_t n = dy.dim(0), out = W.dim(0), in = W.dim(1);
  const auto gemm_here = gemm_on(dy);
  if (dW) gemm_here(true, false, out, in, n, 1.0f, dy.data(), out, x.data(), in, 1.0f, dW->data(), in);
  if (db) column_sums_on(dy)(dy.data(), n, out, out, db->data());
  dx.resize({n, in}, dy.device());
  gemm_here(false, false, n, in, out, 1.0f, dy.data(), out, W.data(), in, 0.0f, dx.data(), in);
}

}  // namespace peer
