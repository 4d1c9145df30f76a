// The dropout mask rule, on both backends. Element i at step s is kept iff its 16-bit draw -
// half-word i % 8 (low half first) of Philox(seed, stream) block (s << 32) + i / 8 - is
// >= p * 65536; a kept element is scaled by 1 / (1 - p) (inverted dropout), a dropped one by 0.
// Each element's draw depends only on (seed, stream, step, i), so any split of the elements
// over threads, tasks or devices draws the same mask.
#pragma once

#include <cstdint>

#include "core/host_device.h"
#include "core/ops/philox_math.h"

namespace peer {

struct DropoutRule {
  uint64_t seed, stream, step;
  uint32_t threshold;  // a draw below it drops its element
  float scale;         // 1 / (1 - p)
};

PEER_HD DropoutRule dropout_rule(float p, uint64_t seed, uint64_t stream, uint64_t step) {
  return {seed, stream, step, uint32_t(p * 65536.0f), 1.0f / (1.0f - p)};
}

// The Philox block holding the draws of elements 8j .. 8j+7.
PEER_HD PhiloxWords dropout_block(const DropoutRule& r, int64_t j) {
  return philox_block(r.seed, r.stream, (r.step << 32) + uint64_t(j));
}

// The draw of element i from its block (dropout_block(r, i / 8)).
PEER_HD uint32_t dropout_draw(const PhiloxWords& block, int64_t i) {
  return (block.w[(i % 8) / 2] >> (16 * (i % 2))) & 0xFFFFu;
}

// The factor element i is multiplied by: 0 or 1 / (1 - p).
PEER_HD float dropout_factor(const DropoutRule& r, uint32_t draw) { return draw >= r.threshold ? r.scale : 0.0f; }

}  // namespace peer
