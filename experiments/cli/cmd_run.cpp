// `peer run EXPERIMENT.toml`: experiments over many runs (DESIGN.md 4, 4b). kind = "sweep" trains
// every variant and writes the tables and plots; kind = "lifelong" is not implemented yet.
#include <filesystem>
#include <iostream>

#include "core/error.h"
#include "experiments/cli/args.h"
#include "experiments/cli/commands.h"
#include "experiments/experiment.h"
#include "experiments/sweep.h"

namespace fs = std::filesystem;

namespace peer {

namespace {
const char* kHelp = R"(usage: peer run EXPERIMENT.toml [--out DIR] [--plan]

Runs an experiment. kind = "sweep": a base run config ([base.model], [base.train], ... or
base = "file.toml") and [variants.NAME] tables of dotted-key overrides ("moe.num_experts" = 32);
an optional [experiment] budget (steps, tokens or flops = training FLOPs, iso-FLOP) applies to
every variant. Each variant trains into DIR/variants/NAME/ with the same data and seed; DIR then
holds results.csv, report.md and PNG plots (gnuplot). The whole file is checked before anything
trains (bad input: exit 2).

  --out DIR   experiment folder (default runs/<experiment name>)
  --plan      print each variant's steps, tokens, parameters and FLOPs (experiments/accounting.h)
              and whether DIR already holds it; train nothing

Resumable: running the same command again skips finished variants and continues an interrupted
one from its checkpoint. Ctrl-C writes a checkpoint and exits 130.
)";
}  // namespace

int cmd_run(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"out"}, {"plan"});
  if (a.has("help")) {
    std::cout << kHelp;
    return 0;
  }
  if (a.positional.size() != 1) throw InputError("expected one EXPERIMENT.toml (see --help)");
  const std::string path = a.positional[0];
  Experiment e = load_experiment(path);
  return run_sweep(e, a.get("out", "runs/" + fs::path(path).stem().string()), a.has("plan"));
}

}  // namespace peer
