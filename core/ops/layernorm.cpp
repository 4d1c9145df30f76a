#include "core/ops/layernorm.h"

#include <algorithm>
#include <stdexcept>

#include "core/ops/layernorm_math.h"

namespace peer {

namespace {
void check_same_device(const Tensor& x, const Tensor& t, const char* name) {
  if (t.device() != x.device())
    throw std::invalid_argument(std::string("[layernorm] ") + name + " is not on the device of x");
}

void forward_cpu(const float* x, const float* w, const float* b, int64_t n, int64_t d, float eps, float* y,
                 float* mean, float* rstd) {
#pragma omp parallel for schedule(static) if (n * d > 32768)
  for (int64_t i = 0; i < n; ++i) layernorm_row_forward(x + i * d, w, b, d, eps, y + i * d, mean[i], rstd[i]);
}

void backward_cpu(const float* x, const float* w, const float* mean, const float* rstd, const float* dy, int64_t n,
                  int64_t d, float* dx, float* dw, float* db) {
  // Parameter gradients: threads take column ranges, and each column sums over the rows in
  // order, so the result does not depend on the thread count.
  if (dw) {
    constexpr int64_t kCols = 16;
#pragma omp parallel for schedule(static) if (n * d > 32768)
    for (int64_t j0 = 0; j0 < d; j0 += kCols) {
      const int64_t j1 = std::min(d, j0 + kCols);
      for (int64_t i = 0; i < n; ++i) {
        const float *xi = x + i * d, *gi = dy + i * d;
        for (int64_t j = j0; j < j1; ++j) layernorm_param_grad(xi[j], gi[j], mean[i], rstd[i], dw[j], db[j]);
      }
    }
  }
#pragma omp parallel for schedule(static) if (n * d > 32768)
  for (int64_t i = 0; i < n; ++i) layernorm_row_backward(x + i * d, w, dy + i * d, d, mean[i], rstd[i], dx + i * d);
}
}  // namespace

void layernorm_forward(const Tensor& x, const Tensor& w, const Tensor& b, float eps, Tensor& y, Tensor& mean,
                       Tensor& rstd) {
  const int64_t n = x.dim(0), d = x.dim(1);
  check_same_device(x, w, "w");
  check_same_device(x, b, "b");
  y.resize({n, d}, x.device());
  mean.resize({n}, x.device());
  rstd.resize({n}, x.device());
  if (x.device() == Device::CUDA)
    return cuda::layernorm_forward(x.data(), w.data(), b.data(), n, d, eps, y.data(), mean.data(), rstd.data());
  forward_cpu(x.data(), w.data(), b.data(), n, d, eps, y.data(), mean.data(), rstd.data());
}

void layernorm_backward(const Tensor& x, const Tensor& w, const Tensor& mean, const Tensor& rstd, const Tensor& dy,
                        Tensor& dx, Tensor* dw, Tensor* db) {
  const int64_t n = x.dim(0), d = x.dim(1);
  if (dy.shape() != x.shape()) throw std::invalid_argument("[layernorm] dy " + dy.shape_str() + " is not x's shape");
  check_same_device(x, dy, "dy");
  check_same_device(x, w, "w");
  if (dw) {
    check_same_device(x, *dw, "dw");
    check_same_device(x, *db, "db");
  }
  dx.resize({n, d}, x.device());
  float* dwp = dw ? dw->data() : nullptr;
  float* dbp = db ? db->data() : nullptr;
  if (x.device() == Device::CUDA)
    return cuda::layernorm_backward(x.data(), w.data(), mean.data(), rstd.data(), dy.data(), n, d, dx.data(), dwp,
                                    dbp);
  backward_cpu(x.data(), w.data(), mean.data(), rstd.data(), dy.data(), n, d, dx.data(), dwp, dbp);
}

}  // namespace peer
