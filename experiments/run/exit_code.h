// The exit codes of `peer` (DESIGN.md 4c): every command, run, sweep and stream returns one.
#pragma once

namespace peer {

enum ExitCode { kExitOk = 0, kExitFailed = 1, kExitUsage = 2, kExitInterrupted = 130 };

}  // namespace peer
