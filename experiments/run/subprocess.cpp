#include "experiments/run/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "experiments/run/interrupt.h"

extern char** environ;

namespace peer {

int run_program(const std::vector<std::string>& argv, const ProgramOptions& o) {
  if (argv.empty()) throw std::invalid_argument("[run_program] no program");
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!o.cwd.empty()) posix_spawn_file_actions_addchdir_np(&actions, o.cwd.c_str());
  if (!o.stdout_path.empty())
    posix_spawn_file_actions_addopen(&actions, 1, o.stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (!o.stderr_path.empty())
    posix_spawn_file_actions_addopen(&actions, 2, o.stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  // A process group of its own, so that an interrupt can stop it and whatever it started.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  pid_t pid = 0;
  const int err = posix_spawnp(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) return 127;
  int status = 0;
  bool stopped = false;
  for (;;) {  // polled: a blocking wait would let Ctrl-C go unanswered until the program ends
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR) return 127;
    if (interrupt_requested() && !stopped) stopped = kill(-pid, SIGTERM) == 0;
    usleep(20000);
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace peer
