// Learning-rate schedule: linear warmup from 0 to lr over warmup_steps, then cosine decay to
// min_lr_ratio * lr at total_steps.
#pragma once

#include <cstdint>

namespace peer {

struct LrSchedule {
  double lr = 1e-3;
  int64_t warmup_steps = 100;
  int64_t total_steps = 3000;
  double min_lr_ratio = 0.1;
  double at(int64_t step) const;  // step counts from 0
};

}  // namespace peer
