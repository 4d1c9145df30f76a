#include "experiments/run/interrupt.h"

#include <atomic>
#include <csignal>

namespace peer {

namespace {
std::atomic<bool> g_interrupted{false};
void on_signal(int) { g_interrupted = true; }
}  // namespace

void install_interrupt_handler() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}

bool interrupt_requested() { return g_interrupted; }

}  // namespace peer
