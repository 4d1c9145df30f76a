// Ctrl-C and SIGTERM set a flag that training loops check after every step (they write a
// checkpoint and return kExitInterrupted). A caller that runs several trainings (a sweep, a
// stream) installs the handler first and checks the flag between them.
#pragma once

#include <string>

namespace peer {

void install_interrupt_handler();
bool interrupt_requested();

// Runs `sh -c command` in a process group of its own and waits for it, stopping it (SIGTERM to
// the group) when an interrupt arrives; system() would ignore Ctrl-C and wait. Returns its exit
// status, 128 + the signal that ended it, or -1 when it could not start.
int run_interruptible(const std::string& command);

}  // namespace peer
