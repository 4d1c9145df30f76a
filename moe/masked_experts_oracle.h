// The dense masking oracle of the sparse MoE: every expert runs on every token and its output is
// masked by a dense gate matrix G (N, E) (zero for experts a token did not choose or that dropped
// it). Kept as the test reference and the benchmark baseline for sparse dispatch; it shares only
// the expert weights with the fast path.
#pragma once

#include "moe/experts.h"

namespace peer {

class MaskedExpertsOracle {
 public:
  // y (N, d) = sum_e G[:, e] * expert_e(x).
  const Tensor& forward(ExpertMLPs& experts, const Tensor& x, const Tensor& gates);
  // Returns dx (N, d); sets dgates (N, E); expert weight gradients +=.
  const Tensor& backward(const Tensor& dy, Tensor& dgates);

 private:
  ExpertMLPs* experts_ = nullptr;
  const Tensor* x_ = nullptr;
  const Tensor* gates_ = nullptr;
  Tensor pre_, hidden_, out_;  // (E, N, d_expert), (E, N, d_expert), (E, N, d)
  Tensor y_, dx_, dout_, dhidden_;
};

}  // namespace peer
