// `peer pool add`: freeze-and-add on a trained run, from the command line.
#include <iostream>

#include "core/error.h"
#include "experiments/cli/args.h"
#include "experiments/cli/commands.h"
#include "experiments/run/exit_code.h"
#include "experiments/run/pools.h"
#include "experiments/run/run_folder.h"
#include "experiments/run/train_step.h"

namespace peer {

namespace {
const char* kHelp = R"(usage: peer pool add DIR --size N|N1xN2 [--keep-old-trainable] [--freeze-query]
                    [--freeze-non-expert]

Adds a fresh expert pool (its own product keys and single-neuron experts, N = N1 * N2) to every
PEER layer of the run in DIR and rewrites DIR/checkpoint.safetensors (atomically). By default the
existing pools are frozen (no gradient, no optimizer state); --freeze-query also freezes the query
networks, --freeze-non-expert everything outside the PEER layers. Continue training with
`peer train --resume DIR --set train.steps=M` (M beyond the run's current step).
)";
}  // namespace

int cmd_pool(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"size"}, {"keep-old-trainable", "freeze-query", "freeze-non-expert"});
  if (a.has("help")) {
    std::cout << kHelp;
    return kExitOk;
  }
  if (a.positional.size() != 2 || a.positional[0] != "add") throw InputError("expected `peer pool add DIR` (see --help)");
  if (!a.has("size")) throw InputError("--size N or N1xN2 is required");
  const std::string dir = a.positional[1];
  GrowOptions g;
  g.shape = parse_pool_size(a.get("size"), "--size");
  g.origin = "--size";
  g.freeze_existing = !a.has("keep-old-trainable");
  g.freeze_query = a.has("freeze-query");
  g.freeze_non_expert = a.has("freeze-non-expert");

  OpenedRun run = open_trained_run(dir, true);
  const CheckpointInfo& info = run.info;
  auto opt = grow_pools_keep_optimizer(*run.model, g, *run.opt, adamw_options(info.config), "run '" + dir + "'");
  save_checkpoint(checkpoint_path(dir), *run.model, opt.get(), info.config, info.tokenizer, info.step);
  auto layers = peer_layers(*run.model);
  std::cout << "added a " << g.shape.n1 << "x" << g.shape.n2 << " pool to " << layers.size() << " PEER layers of "
            << dir << " (now " << layers[0].second->pools.size() << " pools, " << layers[0].second->num_experts()
            << " experts per layer); continue with: peer train --resume " << dir << " --set train.steps=M\n";
  return kExitOk;
}

}  // namespace peer
