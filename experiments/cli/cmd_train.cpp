#include <ctime>
#include <filesystem>
#include <iostream>

#include "core/error.h"
#include "experiments/cli/args.h"
#include "experiments/cli/commands.h"
#include "experiments/run/interrupt.h"
#include "experiments/run/model_factory.h"
#include "experiments/run/sample.h"
#include "experiments/run/trainer.h"

namespace fs = std::filesystem;

namespace peer {

namespace {
const char* kHelp = R"(usage: peer train CONFIG.toml [--set key=value]... [--out DIR] [--resume DIR]

Trains a language model as CONFIG describes (keys: `peer config keys`) and writes DIR/config.toml,
metrics.jsonl, checkpoint.safetensors and summary.json. Ends with a text sample and the val loss.

  --set key=value   override a config key (repeatable), e.g. --set train.steps=200
  --out DIR         run folder (default runs/<config name>-<date>-<time>); must be new or empty
  --resume DIR      continue the run in DIR from its checkpoint (CONFIG defaults to DIR/config.toml)

Ctrl-C (or SIGTERM) writes a checkpoint and exits 130; resume it with --resume DIR. During the final
sample it stops the sample (exit 130; the run is complete). One process at a time trains in DIR
(DIR/train.lock). --resume refuses a config that changes a key not marked "may change on --resume"
in `peer config keys`. A non-finite loss or state stops the run (exit 1) keeping the last finite
checkpoint; a failed write (a full disk) stops it naming the file (exit 1).
)";

std::string default_out(const std::string& config_path) {
  char stamp[32];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", std::localtime(&now));
  return "runs/" + fs::path(config_path).stem().string() + "-" + stamp;
}
}  // namespace

int cmd_train(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"set", "out", "resume"});
  if (a.has("help")) {
    std::cout << kHelp;
    return kExitOk;
  }
  bool resume = a.has("resume");
  if (a.positional.size() > 1) throw InputError("expected one CONFIG.toml, got " + std::to_string(a.positional.size()));
  if (a.positional.empty() && !resume) throw InputError("missing CONFIG.toml (see --help)");
  if (resume && a.has("out")) throw InputError("--resume DIR continues DIR; do not also give --out");
  std::string dir = resume ? a.get("resume") : a.get("out", default_out(a.positional[0]));
  std::string config_path = a.positional.empty() ? dir + "/config.toml" : a.positional[0];
  Config config = load_config(config_path, a.all("set"));

  Trainer trainer(config, dir, resume);
  std::cerr << "[train] run folder " << dir << " | " << count_parameters(trainer.model()) << " parameters | vocab "
            << trainer.data().tokenizer.vocab_size() << " | " << config.total_steps() << " steps\n";
  RunResult r = trainer.run();
  if (r.exit_code != kExitOk) return r.exit_code;
  if (config.train.sample_tokens > 0) {
    std::cout << "--- sample ---\n"
              << sample_text(trainer.model(), trainer.data().tokenizer, "", config.train.sample_tokens, 1.0, 0,
                             uint64_t(config.train.seed))
              << "\n--------------\n";
    if (interrupt_requested()) {
      std::cerr << "[train] interrupted while sampling; the run in " << dir << " is complete\n";
      return kExitInterrupted;
    }
  }
  std::printf("val loss %.4f (best %.4f) after %ld steps, %.0f tokens/s\n", r.final_val_loss, r.best_val_loss,
              long(r.steps), r.tokens_per_s);
  return kExitOk;
}

}  // namespace peer
