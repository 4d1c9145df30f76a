// Progress reporting for long work: one self-updating line on a terminal, plain lines (every
// train.log_every steps, and at evals) otherwise.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace peer {

class Progress {
 public:
  Progress(int64_t total, int64_t plain_every = 50, std::string label = "train");
  void update(int64_t step, double loss, double lr, double tokens_per_s);
  void eval(int64_t step, double train_loss, double val_loss);
  void finish();

 private:
  std::string eta(int64_t step) const;
  int64_t total_, plain_every_, first_step_ = -1;
  std::string label_;
  bool tty_;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace peer
