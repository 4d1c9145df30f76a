// The exit codes of `peer` (experiments/README.md): every command, run, sweep and stream returns one.
#pragma once

namespace peer {

enum ExitCode { kExitOk = 0, kExitFailed = 1, kExitUsage = 2, kExitInterrupted = 130 };

}  // namespace peer
