// A tokenized text split into train and validation parts, and seeded random batches.
// Split: the first (1 - val_fraction) of the tokens train, the rest validate (deterministic).
// Batch b of draw number `draw` starts at a uniform position drawn from Philox(seed, stream) at
// offset draw * B + b, so any batch can be regenerated from (seed, stream, draw).
#pragma once

#include <cstdint>
#include <vector>

namespace peer {

enum class Split { Train, Val };

class TextDataset {
 public:
  TextDataset(std::vector<int32_t> tokens, double val_fraction);
  const std::vector<int32_t>& tokens(Split s) const { return s == Split::Train ? train_ : val_; }

  // x, y: (B*T) inputs and next-token targets.
  void batch(Split s, int64_t B, int64_t T, uint64_t seed, uint64_t stream, uint64_t draw, std::vector<int32_t>& x,
             std::vector<int32_t>& y) const;

 private:
  std::vector<int32_t> train_, val_;
};

}  // namespace peer
