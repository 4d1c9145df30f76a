#include "moe/dispatch.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace peer {

int64_t expert_capacity(double capacity_factor, int64_t tokens, int64_t k, int64_t num_experts) {
  if (capacity_factor <= 0.0) return 0;
  return int64_t(std::ceil(capacity_factor * double(tokens * k) / double(num_experts)));
}

DispatchPlan plan_dispatch(const Routing& r, int64_t num_experts, int64_t capacity) {
  const int64_t n = r.tokens * r.k;
  DispatchPlan p;
  p.num_experts = num_experts;
  p.capacity = capacity;
  std::vector<uint8_t> kept(n, 1);
  if (capacity > 0) {
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    // a = t*k + s: rank s = a % k, token t = a / k.
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
      if (a % r.k != b % r.k) return a % r.k < b % r.k;
      if (r.gate[a] != r.gate[b]) return r.gate[a] > r.gate[b];
      return a < b;
    });
    std::vector<int64_t> used(num_experts, 0);
    for (int64_t a : order) kept[a] = used[r.expert[a]]++ < capacity;
  }
  // Counting sort of kept assignments by expert; iterating a in order keeps tokens ascending.
  p.offsets.assign(num_experts + 1, 0);
  for (int64_t a = 0; a < n; ++a)
    if (kept[a]) ++p.offsets[r.expert[a] + 1];
  std::partial_sum(p.offsets.begin(), p.offsets.end(), p.offsets.begin());
  std::vector<int64_t> fill(p.offsets.begin(), p.offsets.end() - 1);
  p.token.resize(p.offsets.back());
  p.row_of.assign(n, -1);
  for (int64_t a = 0; a < n; ++a) {
    if (!kept[a]) {
      ++p.dropped;
      continue;
    }
    int64_t row = fill[r.expert[a]]++;
    p.token[row] = int32_t(a / r.k);
    p.row_of[a] = int32_t(row);
  }
  return p;
}

}  // namespace peer
