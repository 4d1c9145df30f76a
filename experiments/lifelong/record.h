// What a lifelong method has measured so far (OUT/methods/NAME/state.json), and the continual-
// learning metrics computed from it. Losses are mean nats per token on each domain's held-out
// text; R[i][j] is the loss on domain j after phase i.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace peer {

struct MethodRecord {
  std::string method;
  std::string stream_key;  // the stream it was trained on (lifelong.cpp); a mismatch refuses to resume
  int64_t phases_done = 0;
  std::vector<double> init_loss;             // per domain, before any training
  std::vector<std::vector<double>> loss;     // R: [phase][domain]
  std::vector<int64_t> params, trainable;    // during each phase (after its freeze-and-add)
  std::vector<int64_t> pools;                // expert pools per PEER layer during each phase (0: no PEER)
  std::vector<std::vector<std::vector<double>>> pool_share;  // [phase][domain][pool]: share of retrievals
  // CRC-32 of every frozen tensor, taken when it was frozen and checked after every later phase.
  std::vector<std::pair<std::string, uint32_t>> frozen_crc;
  double train_s = 0.0;                      // seconds in training steps
  int64_t tokens_trained = 0;
  bool finished = false;
  std::string failed;  // why training stopped (a non-finite loss); a rerun would repeat it

  int64_t last_pools() const { return pools.empty() ? 0 : pools.back(); }
  std::string to_json() const;
  static MethodRecord from_json(const std::string& text, const std::string& origin);
};

// NaN where a metric needs more phases than there are.
struct StreamMetrics {
  double final_loss = 0.0;  // mean_j R[P-1][j]
  double forgetting = 0.0;  // mean over j < P-1 of R[P-1][j] - min_{i < P-1} R[i][j] (> 0: forgot)
  double backward_transfer = 0.0;  // mean over j < P-1 of R[j][j] - R[P-1][j] (< 0: forgot)
  double forward_transfer = 0.0;   // mean over j >= 1 of init[j] - R[j-1][j] (> 0: earlier phases helped)
};
StreamMetrics stream_metrics(const std::vector<double>& init, const std::vector<std::vector<double>>& R);

}  // namespace peer
