#include "experiments/run/subprocess.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <stdexcept>

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
  pid_t pid = 0;
  const int err = posix_spawnp(&pid, args[0], &actions, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) return 127;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) return 127;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace peer
