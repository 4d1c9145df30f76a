#include "experiments/run/progress.h"

#include <unistd.h>

#include <cstdio>

#include "experiments/jobs/report_format.h"
#include "experiments/run/duration.h"

namespace peer {

Progress::Progress(int64_t total, int64_t plain_every, std::string label)
    : total_(total), plain_every_(plain_every), label_(std::move(label)), tty_(::isatty(STDERR_FILENO)) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

std::string Progress::eta(int64_t step) const {
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  if (step <= first_step_) return "?";
  return duration(elapsed / double(step - first_step_) * double(total_ - step));
}

void Progress::update(int64_t step, double loss, double lr, double tokens_per_s) {
  if (first_step_ < 0) first_step_ = step - 1;
  auto now = std::chrono::steady_clock::now();
  bool draw = tty_ ? std::chrono::duration<double>(now - last_draw_).count() > 0.2 || step == total_
                   : step % plain_every_ == 0;
  if (!draw) return;
  last_draw_ = now;
  absl::FPrintF(stderr, "%s[%s] step %d/%d | loss %.4f | lr %.2e | %s tok/s | ETA %s%s", tty_ ? "\r" : "", label_,
                step, total_, loss, lr, si(tokens_per_s), eta(step), tty_ ? "   " : "\n");
  std::fflush(stderr);
}

void Progress::eval(int64_t step, double train_loss, double val_loss) {
  absl::FPrintF(stderr, "%s[%s] step %d: train loss %.4f, val loss %.4f\n", tty_ ? "\r\033[K" : "", label_, step,
                train_loss, val_loss);
}

void Progress::finish() {
  if (tty_) std::fprintf(stderr, "\n");
}

}  // namespace peer
