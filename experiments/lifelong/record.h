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
  std::string method;       // the method's name (its folder adds -sSEED when a stream has several seeds)
  int64_t seed = 0;
  std::string stream_key;  // the stream it was trained on (lifelong.cpp); a mismatch refuses to resume
  int64_t phases_done = 0;
  std::vector<double> init_loss;             // per domain, before the stream (after any pretraining)
  std::vector<double> scratch_loss;          // per domain, of a fresh model trained on it alone (empty: joint)
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
  double forward_transfer = 0.0;   // mean over j of scratch[j] - R[j][j] (> 0: what came before helped)
};
// Forward transfer needs scratch (one loss per domain); NaN without.
StreamMetrics stream_metrics(const std::vector<double>& scratch, const std::vector<std::vector<double>>& R);
StreamMetrics stream_metrics(const MethodRecord& r);

}  // namespace peer
