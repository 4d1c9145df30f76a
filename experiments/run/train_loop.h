// The training loop that `peer train` (trainer.h) and every phase of a lifelong stream
// (lifelong/run.cpp) share: a range of steps of one schedule, a batch and an optimisation step
// each, a metrics row every log_every steps, the progress line, and a stop at a non-finite loss
// or an interrupt. What happens around it (evaluation, checkpoints, messages) is the caller's.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/nn/transformer.h"
#include "core/optim/adamw.h"
#include "core/optim/schedule.h"
#include "experiments/run/config.h"
#include "experiments/run/progress.h"

namespace peer {

struct TrainLoop {
  int64_t first = 0, end = 0;    // steps [first, end) of a schedule over `end` steps
  int64_t step_offset = 0;       // global step = step_offset + step: it keys dropout and router
                                 // noise and numbers the metrics rows
  int64_t batch = 0, block = 0;  // B, T
  double grad_clip = 0.0;
  int64_t log_every = 1;
  int64_t check_every = 1;       // on a GPU the loss is read (and checked finite) only every
                                 // check_every steps and at the last: a multiple of nothing else
                                 // costs no wait for the device
  LrSchedule lr;                 // at(step)
  // tokens_per_s counts the tokens since global step counted_from over seconds_before plus the
  // time of this loop's steps.
  int64_t counted_from = 0;
  double seconds_before = 0.0;
  std::function<void(int64_t step, std::vector<int32_t>& x, std::vector<int32_t>& y)> next_batch;
  std::function<void(nlohmann::json& row)> add_fields;  // to every train row; may be empty
  std::function<void(int64_t steps_done)> after_step;  // after each step's row; may be empty
};

// The loop over the whole of c's schedule: steps [0, c.total_steps()), its batch shape,
// clipping, log cadence and learning rate; the caller adds the rest.
TrainLoop train_loop_for(const Config& c);

enum class LoopStop { Finished, NonFinite, Interrupted };

struct LoopEnd {
  LoopStop stop = LoopStop::Finished;
  int64_t step = 0;      // the first step not done: end, the non-finite one, or after an interrupt
  double seconds = 0.0;  // seconds_before + the time of the steps done
  double loss = 0.0;     // of the last step (the non-finite one when stop is NonFinite)
};

// Runs the loop, appending train rows to DIR/metrics.jsonl. An interrupt stops it after a step
// that is not the last one.
LoopEnd train_loop(LanguageModel& model, AdamW& opt, const TrainLoop& loop, Progress& progress,
                   const std::string& dir);

}  // namespace peer
