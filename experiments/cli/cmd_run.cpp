// `peer run EXPERIMENT.toml`: experiments over many runs (experiments/README.md). kind = "sweep" trains
// every variant and writes the tables and plots; kind = "lifelong" trains every method through a
// stream of domains and measures forgetting.
#include <filesystem>
#include <iostream>

#include "core/error.h"
#include "experiments/cli/args.h"
#include "experiments/cli/commands.h"
#include "experiments/run/exit_code.h"
#include "experiments/jobs/experiment.h"
#include "experiments/lifelong/run.h"
#include "experiments/sweep/run.h"

namespace fs = std::filesystem;

namespace peer {

namespace {
const char* kHelp = R"(usage: peer run EXPERIMENT.toml [--out DIR] [--plan | --report] [--shard I/N]

Runs an experiment. kind = "sweep": a base run config ([base.model], [base.train], ... or
base = "file.toml") and [variants.NAME] tables of dotted-key overrides ("moe.num_experts" = 32);
an optional [experiment] budget (steps, tokens or flops = training FLOPs, iso-FLOP: every
variant runs its own whole warmup + cosine schedule to that budget) and seeds = [1, 2, 3]. Each
variant trains once per seed into DIR/variants/NAME/seed-S/ with the same data; DIR then holds
results.csv (a row per variant and seed), results_summary.csv (mean and std over seeds),
accounting.csv, report.md and PNG plots (gnuplot). The whole file is checked before anything
trains (bad input: exit 2).

kind = "lifelong": methods (default all: dense, moe, peer, peer_big, dense_replay, peer_replay,
the freeze-and-add ladder peer_freeze_add, peer_fa_query, peer_fa_bn, peer_fa_only_new,
peer_fa_key_scale, peer_fa_oracle, and joint), tokens_per_phase (required), eval_tokens (held-out
tokens scored per domain, 0 = all), pool_size ("N1xN2" or N; default the base's PEER pool), seeds
(default [train.seed]), rewarm (default true: warmup + cosine per phase), replay_fraction and
replay_tokens (the *_replay methods), an optional [pretrain] (genres or files, and tokens) trained
once and shared by every method, [[domains]] with name and genres = [...] or files = [...]
(default: four Brown genre groups), and [method.NAME] tables of overrides and method options
(add_pools, freeze_query, freeze_bn_stats, freeze_non_expert, match_key_scale, oracle, replay,
rewarm). Each method (at each seed) trains through the domains in order into DIR/methods/NAME/ and
is scored on every domain's held-out text after each phase; DIR then holds results.csv,
loss_matrix.csv, pool_usage.csv, report.md (mean +- std over seeds, a written conclusion) and
PNG plots. Pretrain checkpoints and from-scratch references are kept in DIR/shared/ and reused.

  --out DIR     experiment folder (default runs/<experiment name>)
  --plan        print each variant's (method's) steps, tokens, parameters, granularity, FLOPs per
                token by component and the state of its jobs on disk; train nothing
  --shard I/N   run only jobs j (in plan order, from 0) with j % N == I - 1. Shards may run at
                once, on machines sharing DIR's filesystem: each job is claimed (DIR/.../seed-S.claim,
                "HOST PID") before it trains, and a finished job is never run again
  --report      train nothing; rewrite results.csv, report.md and plots from the finished jobs
                (after the shards are done)

Resumable: running the same command again skips finished variants (methods) and continues an
interrupted one from its checkpoint, a killed one too (its claim is taken over on the same host
once its process is gone). Ctrl-C writes a checkpoint and exits 130.
)";
}  // namespace

int cmd_run(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"out", "shard"}, {"plan", "report"});
  if (a.has("help")) {
    std::cout << kHelp;
    return kExitOk;
  }
  if (a.positional.size() != 1) throw InputError("expected one EXPERIMENT.toml (see --help)");
  RunMode mode;
  mode.plan = a.has("plan");
  mode.report = a.has("report");
  if (mode.plan && mode.report) throw InputError("--plan and --report: give one of them");
  if (a.has("shard")) {
    mode.shard = parse_shard(a.get("shard"));
    if (mode.report) throw InputError("--report covers every shard's jobs; leave out --shard");
  }
  const std::string path = a.positional[0];
  Experiment e = load_experiment(path);
  const std::string out = a.get("out", "runs/" + fs::path(path).stem().string());
  return e.kind == "lifelong" ? run_lifelong(e, out, mode) : run_sweep(e, out, mode);
}

}  // namespace peer
