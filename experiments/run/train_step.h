// One optimisation step, and the optimizer and learning-rate schedule a config asks for.
#pragma once

#include <cstdint>
#include <vector>

#include "core/nn/transformer.h"
#include "core/optim/adamw.h"
#include "core/optim/schedule.h"
#include "experiments/run/config.h"

namespace peer {

// One optimisation step on the batch x -> y (B*T tokens each): forward, backward, gradient
// clipping (grad_clip <= 0: none), AdamW at learning rate lr. `step` keys dropout and router
// noise. Returns the loss; a non-finite loss skips backward and update. grad_norm: where to put
// the gradient norm before clipping; null when not wanted (then, without clipping, it is not
// computed).
double train_on_batch(LanguageModel& model, AdamW& opt, const std::vector<int32_t>& x, const std::vector<int32_t>& y,
                      int64_t B, int64_t T, uint64_t step, double grad_clip, double lr, double* grad_norm);

AdamWOptions adamw_options(const Config& c);
// Warmup + cosine over c.total_steps().
LrSchedule lr_schedule(const Config& c);

}  // namespace peer
