#include "core/nn/layernorm.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace peer {

LayerNorm::LayerNorm(const std::string& name, int64_t dim, float eps)
    : weight(name + ".weight", {dim}, false), bias(name + ".bias", {dim}, false), eps_(eps) {
  weight.value.fill(1.0f);
}

const Tensor& LayerNorm::forward(const Tensor& x) {
  int64_t d = weight.value.numel();
  if (x.ndim() != 2 || x.dim(1) != d)
    throw std::invalid_argument("[layernorm " + weight.name + "] bad input shape " + x.shape_str());
  int64_t n = x.dim(0);
  y_.resize({n, d});
  mean_.resize(n);
  rstd_.resize(n);
  const float *w = weight.value.data(), *b = bias.value.data();
#pragma omp parallel for schedule(static) if (n * d > 32768)
  for (int64_t i = 0; i < n; ++i) {
    const float* xi = x.data() + i * d;
    float* yi = y_.data() + i * d;
    float m = 0.0f;
    for (int64_t j = 0; j < d; ++j) m += xi[j];
    m /= d;
    float v = 0.0f;
    for (int64_t j = 0; j < d; ++j) v += (xi[j] - m) * (xi[j] - m);
    float rs = 1.0f / std::sqrt(v / d + eps_);
    for (int64_t j = 0; j < d; ++j) yi[j] = (xi[j] - m) * rs * w[j] + b[j];
    mean_[i] = m;
    rstd_[i] = rs;
  }
  x_ = &x;
  return y_;
}

const Tensor& LayerNorm::backward(const Tensor& dy) {
  int64_t n = dy.dim(0), d = weight.value.numel();
  dx_.resize({n, d});
  const float* w = weight.value.data();
  // Parameter gradients: threads take column ranges, and each column sums over the rows in
  // order, so the result does not depend on the thread count.
  if (!weight.frozen) {
    float *dw = weight.grad.data(), *db = bias.grad.data();
    constexpr int64_t kCols = 16;
#pragma omp parallel for schedule(static) if (n * d > 32768)
    for (int64_t j0 = 0; j0 < d; j0 += kCols) {
      const int64_t j1 = std::min(d, j0 + kCols);
      for (int64_t i = 0; i < n; ++i) {
        const float *xi = x_->data() + i * d, *gi = dy.data() + i * d;
        for (int64_t j = j0; j < j1; ++j) {
          dw[j] += (xi[j] - mean_[i]) * rstd_[i] * gi[j];
          db[j] += gi[j];
        }
      }
    }
  }
#pragma omp parallel for schedule(static) if (n * d > 32768)
  for (int64_t i = 0; i < n; ++i) {
    const float *xi = x_->data() + i * d, *gi = dy.data() + i * d;
    float* dxi = dx_.data() + i * d;
    float mg = 0.0f, mgx = 0.0f;  // mean(g*w), mean(g*w*xhat)
    for (int64_t j = 0; j < d; ++j) {
      float xhat = (xi[j] - mean_[i]) * rstd_[i];
      mg += gi[j] * w[j];
      mgx += gi[j] * w[j] * xhat;
    }
    mg /= d;
    mgx /= d;
    for (int64_t j = 0; j < d; ++j) {
      float xhat = (xi[j] - mean_[i]) * rstd_[i];
      dxi[j] = rstd_[i] * (gi[j] * w[j] - mg - xhat * mgx);
    }
  }
  return dx_;
}

void LayerNorm::collect_parameters(std::vector<Parameter*>& out) {
  out.push_back(&weight);
  out.push_back(&bias);
}

}  // namespace peer
