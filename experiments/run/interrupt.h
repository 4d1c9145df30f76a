// Ctrl-C and SIGTERM set a flag that training loops check after every step (they write a
// checkpoint and return kExitInterrupted). A caller that runs several trainings (a sweep, a
// stream) installs the handler first and checks the flag between them.
#pragma once

#include <string>

namespace peer {

void install_interrupt_handler();
bool interrupt_requested();

}  // namespace peer
