#include "experiments/run/train_loop.h"

#include <chrono>
#include <cmath>
#include <numeric>

#include "experiments/run/interrupt.h"
#include "experiments/run/metrics_log.h"
#include "experiments/run/train_step.h"

namespace peer {

TrainLoop train_loop_for(const Config& c) {
  TrainLoop loop;
  loop.end = c.total_steps();
  loop.batch = c.train.batch_size;
  loop.block = c.model.block_size;
  loop.grad_clip = c.train.grad_clip;
  loop.log_every = c.train.log_every;
  loop.check_every = std::gcd(c.train.log_every, c.train.eval_every);
  loop.lr = lr_schedule(c);
  return loop;
}

LoopEnd train_loop(LanguageModel& model, AdamW& opt, const TrainLoop& loop, Progress& progress,
                   const std::string& dir) {
  const int64_t tokens_per_step = loop.batch * loop.block;
  LoopEnd end{LoopStop::Finished, loop.first, loop.seconds_before};
  std::vector<int32_t> x, y;
  for (int64_t s = loop.first; s < loop.end; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    loop.next_batch(s, x, y);
    const bool logged = (s + 1) % loop.log_every == 0;
    const bool checked = (s + 1) % loop.check_every == 0 || s + 1 == loop.end;
    const int64_t step = loop.step_offset + s;
    double gn = 0.0;
    const std::optional<double> loss = train_on_batch(model, opt, x, y, loop.batch, loop.block, uint64_t(step),
                                                      loop.grad_clip, loop.lr.at(s), logged ? &gn : nullptr,
                                                      logged || checked);
    if (loss) end.loss = *loss;
    if (loss && !std::isfinite(*loss)) {
      end.stop = LoopStop::NonFinite;
      return end;
    }
    end.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    end.step = s + 1;
    const double tps = double((step + 1 - loop.counted_from) * tokens_per_step) / end.seconds;
    if (loss) progress.update(s + 1, *loss, loop.lr.at(s), tps);
    if (logged) {
      nlohmann::json row = {{"step", step + 1}, {"split", "train"}, {"loss", *loss},
                            {"lr", loop.lr.at(s)}, {"grad_norm", gn}, {"tokens_per_s", tps}};
      if (loop.add_fields) loop.add_fields(row);
      append_metrics(dir, row);
    }
    if (loop.after_step) loop.after_step(s + 1);
    if (interrupt_requested() && s + 1 < loop.end) {
      end.stop = LoopStop::Interrupted;
      return end;
    }
  }
  return end;
}

}  // namespace peer
