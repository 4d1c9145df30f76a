// `peer config keys`: the config key reference, printed from the schema the parser reads.
#include <iostream>

#include "core/error.h"
#include "experiments/cli/args.h"
#include "experiments/cli/commands.h"
#include "experiments/run/config.h"

namespace peer {

namespace {
const char* kHelp = R"(usage: peer config keys [--format text|markdown]

Prints every key a run config (and a --set override) accepts: its TOML type, its default and what
it means. A default of 0 that the meaning explains (0 = 4 * n_embd, ...) is resolved when a config
is read, so the config.toml a run writes holds the value the run used. --format markdown prints
the table experiments/README.md holds.
)";
}  // namespace

int cmd_config(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"format"});
  if (a.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (a.positional.size() != 1 || a.positional[0] != "keys") throw InputError("expected `peer config keys` (see --help)");
  const std::string format = a.get("format", "text");
  if (format != "text" && format != "markdown") throw InputError("--format must be text or markdown");
  std::cout << format_config_keys(format == "markdown");
  return 0;
}

}  // namespace peer
