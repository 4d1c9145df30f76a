#include "experiments/run/train_step.h"

#include <cmath>

namespace peer {

std::optional<double> train_on_batch(LanguageModel& model, AdamW& opt, const std::vector<int32_t>& x,
                                     const std::vector<int32_t>& y, int64_t B, int64_t T, uint64_t step,
                                     double grad_clip, double lr, double* grad_norm, bool read_loss) {
  model.zero_grad();
  model.forward_on_device(x.data(), y.data(), B, T, true, step);
  std::optional<double> loss;
  if (read_loss || model.device() == Device::CPU) {
    loss = model.loss().item();
    if (!std::isfinite(*loss)) return loss;
  }
  model.backward();
  if (grad_norm) {
    *grad_norm = clip_grad_norm(model.parameters(), grad_clip);
  } else if (grad_clip > 0.0) {  // a pass over every gradient: skipped when nobody needs it
    Tensor norm;                   // left on the model's device: no wait for a GPU
    clip_grad_norm(model.parameters(), grad_clip, norm);
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
