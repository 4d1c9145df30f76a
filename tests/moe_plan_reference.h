// A plain statement of moe/dispatch.h's capacity rule, for the CPU test of plan_dispatch and the
// CPU-vs-GPU plan test: per expert, its assignments sorted by (rank s, gate descending, index a),
// the first `capacity` kept, then the kept ones in index order. Also random routings whose gates
// take few values, so that priority ties (broken by index) are common.
#pragma once

#include <algorithm>
#include <string>
#include <vector>

#include "core/rng.h"
#include "moe/dispatch.h"

namespace peer::test {

// k distinct experts per token out of E; gates drawn from `levels` values (0: continuous).
inline Routing tied_routing(int64_t N, int64_t E, int64_t k, int levels, uint64_t seed) {
  Routing r{N, k, Tensor({N * k}, Device::CPU, DType::I32), Tensor({N * k})};
  int32_t* expert = r.expert.data_i32();
  const Philox rng(seed, 11);
  uint64_t draw = 0;
  for (int64_t a = 0; a < N * k; ++a) {
    const float u = rng.uniform(draw++);
    r.gate[a] = levels > 0 ? float(int(u * float(levels)) + 1) / float(levels) : u;
    do expert[a] = int32_t(rng.below(uint64_t(E), draw++));
    while (std::find(expert + a - a % k, expert + a, expert[a]) != expert + a);
  }
  return r;
}

struct PlanReference {
  std::vector<int32_t> offsets, token, row_of;  // (E+1), (kept rows), (N*k)
};

inline PlanReference reference_plan(const Routing& r, int64_t E, int64_t capacity) {
  const int64_t n = r.tokens * r.k;
  const int32_t* expert = r.expert.data_i32();
  PlanReference p{{0}, {}, std::vector<int32_t>(n, -1)};
  for (int64_t e = 0; e < E; ++e) {
    std::vector<int64_t> mine;
    for (int64_t a = 0; a < n; ++a)
      if (expert[a] == e) mine.push_back(a);
    std::sort(mine.begin(), mine.end(), [&](int64_t a, int64_t b) {
      if (a % r.k != b % r.k) return a % r.k < b % r.k;
      if (r.gate[a] != r.gate[b]) return r.gate[a] > r.gate[b];
      return a < b;
    });
    if (capacity > 0 && int64_t(mine.size()) > capacity) mine.resize(capacity);
    std::sort(mine.begin(), mine.end());
    for (int64_t a : mine) {
      p.row_of[a] = int32_t(p.token.size());
      p.token.push_back(int32_t(a / r.k));
    }
    p.offsets.push_back(int32_t(p.token.size()));
  }
  return p;
}

// "" when plan p (on any device; a CUDA plan's unused rows ignored) equals the reference, else
// what differs.
inline std::string plan_mismatch(const DispatchPlan& p, const PlanReference& want) {
  const Tensor offsets = p.offsets.to(Device::CPU), token = p.token.to(Device::CPU), row_of = p.row_of.to(Device::CPU);
  const std::vector<int32_t> got_offsets(offsets.data_i32(), offsets.data_i32() + offsets.numel());
  if (got_offsets != want.offsets) return "offsets differ";
  if (token.numel() < int64_t(want.token.size()) ||
      !std::equal(want.token.begin(), want.token.end(), token.data_i32()))
    return "tokens of the grouped rows differ";
  if (row_of.numel() != int64_t(want.row_of.size()) ||
      !std::equal(want.row_of.begin(), want.row_of.end(), row_of.data_i32()))
    return "rows of the assignments differ";
  return "";
}

}  // namespace peer::test
