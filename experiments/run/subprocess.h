// Running another program (tar, npm, gnuplot) without a shell: the arguments reach it as they
// are, so a path with a quote, a space or `;` is a path, never a command.
#pragma once

#include <string>
#include <vector>

namespace peer {

struct ProgramOptions {
  std::string cwd;          // run in this directory (empty = the current one)
  std::string stdout_path;  // redirect standard output to this file (empty = inherit; relative: to cwd)
  std::string stderr_path;  // redirect standard error to this file (empty = inherit)
};

// Runs argv[0], looked up in PATH, with argv[1..], in a process group of its own, and waits for
// it; an interrupt (run/interrupt.h) stops it (SIGTERM to the group). Returns its exit status;
// 127 when it could not be started (not installed), 128 + N when signal N ended it.
int run_program(const std::vector<std::string>& argv, const ProgramOptions& o = {});

}  // namespace peer
