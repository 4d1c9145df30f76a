#include "core/optim/schedule.h"

#include <algorithm>
#include <cmath>

namespace peer {

double LrSchedule::at(int64_t step) const {
  if (step < warmup_steps) return lr * double(step + 1) / double(warmup_steps);
  if (total_steps <= warmup_steps) return lr;
  double progress = std::min(1.0, double(step - warmup_steps) / double(total_steps - warmup_steps));
  double cosine = 0.5 * (1.0 + std::cos(M_PI * progress));
  return lr * (min_lr_ratio + (1.0 - min_lr_ratio) * cosine);
}

}  // namespace peer
