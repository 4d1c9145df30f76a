#include "moe/dispatch.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace peer {

int64_t expert_capacity(double capacity_factor, int64_t tokens, int64_t k, int64_t num_experts) {
  if (capacity_factor <= 0.0) return 0;
  return int64_t(std::ceil(capacity_factor * double(tokens * k) / double(num_experts)));
}

void plan_dispatch(const Routing& r, int64_t num_experts, int64_t capacity, DispatchPlan& p) {
  p.num_experts = num_experts;
  p.capacity = capacity;
  if (r.expert.device() == Device::CUDA) return cuda::plan_dispatch(r, num_experts, capacity, p);
  const int64_t n = r.tokens * r.k;
  const int32_t* expert = r.expert.data_i32();
  const float* gate = r.gate.data();
  std::vector<uint8_t> kept(n, 1);
  if (capacity > 0) {
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    // a = t*k + s: rank s = a % k, token t = a / k.
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      if (a % r.k != b % r.k) return a % r.k < b % r.k;
      if (gate[a] != gate[b]) return gate[a] > gate[b];
      return a < b;
    });
    std::vector<int64_t> used(num_experts, 0);
    for (int64_t a : order) kept[a] = used[expert[a]]++ < capacity;
  }
  // Counting sort of kept assignments by expert; iterating a in order keeps tokens ascending.
  p.offsets.resize({num_experts + 1}, Device::CPU, DType::I32);
  int32_t* offsets = p.offsets.data_i32();
  std::fill(offsets, offsets + num_experts + 1, 0);
  for (int64_t a = 0; a < n; ++a)
    if (kept[a]) ++offsets[expert[a] + 1];
  std::partial_sum(offsets, offsets + num_experts + 1, offsets);
  std::vector<int64_t> fill(offsets, offsets + num_experts);
  p.token.resize({offsets[num_experts]}, Device::CPU, DType::I32);
  p.row_of.resize({n}, Device::CPU, DType::I32);
  p.tiles = Tensor();
  for (int64_t a = 0; a < n; ++a) {
    if (!kept[a]) {
      p.row_of.data_i32()[a] = -1;
      continue;
    }
    int64_t row = fill[expert[a]]++;
    p.token.data_i32()[row] = int32_t(a / r.k);
    p.row_of.data_i32()[a] = int32_t(row);
  }
}

DispatchPlan plan_dispatch(const Routing& r, int64_t num_experts, int64_t capacity) {
  DispatchPlan p;
  plan_dispatch(r, num_experts, capacity, p);
  return p;
}

int64_t dropped(const DispatchPlan& p) {
  const Tensor offsets = p.offsets.to(Device::CPU);
  return p.row_of.numel() - offsets.data_i32()[p.num_experts];
}

void dispatch_rows(const Tensor& x, const DispatchPlan& p, Tensor& xg) {
  const int64_t rows = p.rows(), d = x.dim(1);
  xg.resize({rows, d}, x.device());
  if (x.device() == Device::CUDA) return cuda::dispatch_rows(x, p, xg);
  const int32_t* token = p.token.data_i32();
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; ++r) std::copy_n(x.data() + int64_t(token[r]) * d, d, xg.data() + r * d);
}

// Token-parallel: no write conflicts, a fixed order.
void combine_rows(const Tensor& grouped, const Tensor* gate, const DispatchPlan& p, int64_t k, Tensor& y) {
  const int64_t N = p.row_of.numel() / k, d = grouped.dim(1);
  y.resize({N, d}, grouped.device());
  if (grouped.device() == Device::CUDA) return cuda::combine_rows(grouped, gate, p, k, y);
  const int32_t* row_of = p.row_of.data_i32();
  const float* gates = gate ? gate->data() : nullptr;
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < N; ++t) {
    float* o = y.data() + t * d;
    std::fill(o, o + d, 0.0f);
    for (int64_t s = 0; s < k; ++s) {
      int64_t row = row_of[t * k + s];
      if (row < 0) continue;
      const float g = gates ? gates[t * k + s] : 1.0f, *src = grouped.data() + row * d;
      for (int64_t j = 0; j < d; ++j) o[j] += g * src[j];
    }
  }
}

void combine_rows_backward(const Tensor& dy, const Tensor& grouped, const Tensor& gate, const DispatchPlan& p,
                           int64_t k, Tensor& dgrouped, Tensor& dgate) {
  const int64_t N = dy.dim(0), d = dy.dim(1);
  dgrouped.resize({p.rows(), d}, dy.device());
  dgate.resize({N * k}, dy.device());
  if (dy.device() == Device::CUDA) return cuda::combine_rows_backward(dy, grouped, gate, p, k, dgrouped, dgate);
  const int32_t* row_of = p.row_of.data_i32();
  float* dg = dgate.data();
  std::fill(dg, dg + N * k, 0.0f);
#pragma omp parallel for schedule(static)
  for (int64_t t = 0; t < N; ++t) {
    const float* g = dy.data() + t * d;
    for (int64_t s = 0; s < k; ++s) {
      int64_t row = row_of[t * k + s];
      if (row < 0) continue;
      const float gt = gate.data()[t * k + s], *yrow = grouped.data() + row * d;
      float* drow = dgrouped.data() + row * d;
      float dot = 0.0f;
      for (int64_t j = 0; j < d; ++j) {
        dot += g[j] * yrow[j];
        drow[j] = gt * g[j];
      }
      dg[t * k + s] = dot;
    }
  }
}

}  // namespace peer
