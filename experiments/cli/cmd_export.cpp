// `peer export`: a trained run's weights as a safetensors file for other programs.
#include <iostream>

#include "core/error.h"
#include "experiments/cli/args.h"
#include "experiments/cli/commands.h"
#include "experiments/run/exit_code.h"
#include "experiments/run/export.h"

namespace peer {

namespace {
const char* kHelp = R"(usage: peer export DIR --out FILE.safetensors [--force]

Writes the model of the run in DIR (its checkpoint) to FILE: every weight and buffer under the
model's own tensor names, no optimizer state, with the resolved config, the vocabulary, the step
and the commit in the metadata ("format": "pt"). The format is experiments/MODEL_FORMAT.md;
experiments/python/peer_reader.py loads it and runs the model with numpy. An existing FILE is
kept unless --force; the file is written atomically (temporary file, fsync, rename).
)";
}  // namespace

int cmd_export(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"out"}, {"force"});
  if (a.has("help")) {
    std::cout << kHelp;
    return kExitOk;
  }
  if (a.positional.size() != 1) throw InputError("expected one run folder DIR (see --help)");
  if (a.get("out").empty()) throw InputError("--out FILE.safetensors is required");
  ExportResult r = export_model(a.positional[0], a.get("out"), a.has("force"));
  std::cout << "exported " << r.tensors << " tensors (" << r.bytes << " bytes of weights, step " << r.step << ") of "
            << a.positional[0] << " to " << a.get("out") << "\n";
  return kExitOk;
}

}  // namespace peer
