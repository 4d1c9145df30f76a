// One optimisation step, and the optimizer and learning-rate schedule a config asks for.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/nn/transformer.h"
#include "core/optim/adamw.h"
#include "core/optim/schedule.h"
#include "experiments/run/config.h"

namespace peer {

// One optimisation step on the batch x -> y (B*T tokens each): forward, backward, gradient
// clipping (grad_clip <= 0: none), AdamW at learning rate lr. `step` keys dropout and router
// noise. grad_norm: where to put the gradient norm before clipping; null when not wanted (then,
// without clipping, it is not computed).
// Returns the loss. On the CPU it is always read, and a non-finite loss skips backward and
// update. On a GPU the loss stays on the device unless read_loss is set (a step with no host
// round trip): nullopt then, and a non-finite loss is found at the next step that reads it.
std::optional<double> train_on_batch(LanguageModel& model, AdamW& opt, const std::vector<int32_t>& x,
                                     const std::vector<int32_t>& y, int64_t B, int64_t T, uint64_t step,
                                     double grad_clip, double lr, double* grad_norm, bool read_loss = true);

AdamWOptions adamw_options(const Config& c);
// Warmup + cosine over c.total_steps().
LrSchedule lr_schedule(const Config& c);

}  // namespace peer
