#include "experiments/run/train_step.h"

#include <cmath>

namespace peer {

double train_on_batch(LanguageModel& model, AdamW& opt, const std::vector<int32_t>& x, const std::vector<int32_t>& y,
                      int64_t B, int64_t T, uint64_t step, double grad_clip, double lr, double* grad_norm) {
  model.zero_grad();
  double loss = model.forward(x.data(), y.data(), B, T, true, step);
  if (!std::isfinite(loss)) return loss;
  model.backward();
  if (grad_clip > 0.0 || grad_norm) {  // a pass over every gradient: skipped when nobody needs it
    double gn = clip_grad_norm(model.parameters(), grad_clip);
    if (grad_norm) *grad_norm = gn;
  }
  opt.step(float(lr));
  return loss;
}

AdamWOptions adamw_options(const Config& c) {
  AdamWOptions o;
  o.weight_decay = float(c.train.weight_decay);
  o.lazy_sparse = c.train.sparse_adam == "lazy";
  return o;
}

LrSchedule lr_schedule(const Config& c) {
  return {c.train.lr, c.train.warmup_steps, c.total_steps(), c.train.min_lr_ratio};
}

}  // namespace peer
