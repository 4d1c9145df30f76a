// `peer`: the command-line entry point. Exit codes: 0 ok, 1 run failed, 2 bad usage or
// config, 130 interrupted.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iostream>
#include <string>

#include <unistd.h>

#include "core/error.h"
#include "experiments/cli/commands.h"
#include "experiments/run/exit_code.h"
#include "experiments/run/provenance.h"
#include "experiments/run/suggest.h"

namespace {
const char* kUsage = R"(peer: sparse-expert language models (dense FFN, MoE, PEER)

usage:
  peer train CONFIG.toml [--set key=value]... [--out DIR] [--resume DIR]
  peer eval DIR [--data PATH] [--eval-batches N]
  peer sample DIR [--prompt TEXT] [--tokens N] [--temperature T] [--top-k K] [--seed S]
  peer run EXPERIMENT.toml [--out DIR] [--plan]
  peer data prepare [--source brown] [--out DIR] [--from PATH]
  peer bench retrieval [--num-experts N] [--heads H] [--top-k K] [--d-key D] [--queries Q]
                       [--device cpu|cuda] [--check]
  peer pool add DIR --size N|N1xN2 [--keep-old-trainable] [--freeze-query] [--freeze-non-expert]
  peer export DIR --out FILE.safetensors [--force]
  peer config keys [--format text|markdown]
  peer --version    the commit this binary was built from (+dirty: with uncommitted changes)

Every command has --help. Exit codes: 0 ok, 1 run failed, 2 bad usage or config, 130 interrupted.
)";

// OpenMP threads that wait for work spin on their core by default (libgomp: ~300,000 spins
// between parallel regions). On a machine that other processes also use, the spinning takes the
// cores they and the other threads need: next to one busy process, training ran 7-40x slower and
// sampling 36x slower. So waiting threads sleep unless the user chose a policy
// (OMP_WAIT_POLICY=active brings the spinning back). libgomp reads the variable once, when it is
// loaded before main, so it takes effect only in a fresh image of this program: set it and
// re-execute (same process id).
void make_waiting_threads_sleep(char** argv) {
  if (std::getenv("OMP_WAIT_POLICY")) return;
  setenv("OMP_WAIT_POLICY", "PASSIVE", 1);
  execv("/proc/self/exe", argv);
  std::cerr << "peer: note: could not restart with OMP_WAIT_POLICY=PASSIVE (" << std::strerror(errno)
            << "); waiting threads spin\n";
}

}  // namespace

int main(int argc, char** argv) {
  make_waiting_threads_sleep(argv);
  if (argc < 2 || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "-h")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? peer::kExitUsage : peer::kExitOk;
  }
  if (!std::strcmp(argv[1], "--version")) {
    std::printf("peer %s\n", peer::build_commit().c_str());
    return peer::kExitOk;
  }
  std::string cmd = argv[1];
  try {
    if (cmd == "train") return peer::cmd_train(argc, argv);
    if (cmd == "eval") return peer::cmd_eval(argc, argv);
    if (cmd == "sample") return peer::cmd_sample(argc, argv);
    if (cmd == "run") return peer::cmd_run(argc, argv);
    if (cmd == "data") return peer::cmd_data(argc, argv);
    if (cmd == "bench") return peer::cmd_bench(argc, argv);
    if (cmd == "pool") return peer::cmd_pool(argc, argv);
    if (cmd == "config") return peer::cmd_config(argc, argv);
    if (cmd == "export") return peer::cmd_export(argc, argv);
    std::cerr << "peer: unknown command '" << cmd << "'"
              << peer::did_you_mean(cmd, {"train", "eval", "sample", "run", "data", "bench", "pool", "config", "export"})
              << " (see peer --help)\n";
    return peer::kExitUsage;
  } catch (const peer::InputError& e) {
    std::cerr << "peer " << cmd << ": error: " << e.what() << "\n";
    return peer::kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "peer " << cmd << ": failed: " << e.what() << "\n";
    return peer::kExitFailed;
  }
}
