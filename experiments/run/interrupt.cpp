#include "experiments/run/interrupt.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
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

int run_interruptible(const std::string& command) {
  const char* cmd = command.c_str();
  const pid_t pid = ::fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    ::setpgid(0, 0);
    ::execl("/bin/sh", "sh", "-c", cmd, static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::setpgid(pid, pid);  // here too: the group exists before a kill below, whoever runs first
  int status = 0;
  bool stopped = false;
  for (;;) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) return -1;
    if (interrupt_requested() && !stopped) stopped = ::kill(-pid, SIGTERM) == 0;
    ::usleep(20000);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace peer
