// The product-key top-k merge, on both backends: the sorted top-k list with its tie rule, and the
// merge of the two halves' top lists into the top k of the n1 * n2 sums (peer/product_keys.h).
// The CPU retrieval runs these functions; a CUDA retrieval kernel is to call the same ones.
#pragma once

#include <cstdint>

#include "core/host_device.h"

namespace peer {

// A sorted (best first) list of at most k (score, index) entries, over storage the caller owns.
// Order: score descending, ties by index ascending.
struct TopList {
  float* score;    // (k)
  int32_t* index;  // (k)
  int64_t size = 0, k;

  PEER_HD static bool better(float s, int32_t i, float t, int32_t j) { return s > t || (s == t && i < j); }

  // Inserts (s, i) if it belongs among the best k.
  PEER_HD void offer(float s, int32_t i) {
    if (size == k && !better(s, i, score[k - 1], index[k - 1])) return;
    int64_t pos = size < k ? size++ : k - 1;
    while (pos > 0 && better(s, i, score[pos - 1], index[pos - 1])) {
      score[pos] = score[pos - 1];
      index[pos] = index[pos - 1];
      --pos;
    }
    score[pos] = s;
    index[pos] = i;
  }
};

// Merges the half lists a (the top min(k+1, n1) of one query's n1 sub-scores s1) and b (the top
// min(k+1, n2) of its s2) into out (empty, capacity k): the top k of the sums s1[i1] + s2[i2] of
// expert i1 * n2 + i2, with the tie rule of TopList. Only the candidate pairs (x, y) of list
// positions with (x+1)(y+1) <= k are offered: every other pair is weakly beaten (float addition
// is monotone) by k pairs, so its sum is <= the k-th score. Rounding can make such a sum EQUAL the
// k-th score, and then the index tie rule could prefer it: each excluded pair is dominated by a
// frontier pair (x, floor(k/(x+1))), so if no frontier sum reaches the k-th score the result is
// exact and this returns true. Otherwise (exact ties at the boundary, rare) it returns false and
// the caller must take the top k over all n1 * n2 sums instead.
PEER_HD bool merge_half_topk(const TopList& a, const TopList& b, int64_t n2, TopList& out) {
  const int64_t k = out.k, ka = a.size < k ? a.size : k, kb = b.size < k ? b.size : k;
  for (int64_t x = 0; x < ka; ++x)
    for (int64_t y = 0; y < kb && (x + 1) * (y + 1) <= k; ++y)
      out.offer(a.score[x] + b.score[y], int32_t(int64_t(a.index[x]) * n2 + b.index[y]));
  const float kth = out.score[k - 1];
  for (int64_t x = 0; x < a.size; ++x) {
    const int64_t y = k / (x + 1);
    if (y < b.size && a.score[x] + b.score[y] >= kth) return false;
  }
  return true;
}

}  // namespace peer
