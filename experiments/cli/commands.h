// The `peer` subcommands (experiments/README.md). Each returns the process exit code and prints its own
// --help; bad usage throws InputError (exit 2).
#pragma once

namespace peer {

int cmd_train(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_sample(int argc, char** argv);
int cmd_data(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_pool(int argc, char** argv);
int cmd_config(int argc, char** argv);
int cmd_export(int argc, char** argv);

}  // namespace peer
