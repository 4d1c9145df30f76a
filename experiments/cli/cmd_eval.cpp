// `peer eval` and `peer sample`: both restore a trained run folder.
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/parallel.h"
#include "experiments/cli/args.h"
#include "experiments/cli/commands.h"
#include "experiments/run/data.h"
#include "experiments/run/evaluate.h"
#include "experiments/run/exit_code.h"
#include "experiments/run/run_folder.h"
#include "experiments/run/sample.h"

namespace peer {

namespace {
const char* kEvalHelp = R"(usage: peer eval DIR [--data PATH] [--eval-batches N]

Loads DIR/checkpoint.safetensors and prints, as one JSON line, the mean loss on the run's own
train and validation splits (N fixed batches, default train.eval_batches), or with --data, the
loss over every token of a text file (consecutive windows of block_size). A model or loss holding
a NaN or an infinity is refused (exit 1).
)";

const char* kSampleHelp = R"(usage: peer sample DIR [--prompt TEXT] [--tokens N] [--temperature T] [--top-k K] [--seed S]

Generates N tokens (default 500) from the model in DIR after PROMPT, sampling at temperature T
(default 1.0) among the K most likely tokens (default all), seeded by S (default 1). A model
holding a NaN or an infinity is refused (exit 1).
)";

std::string single_dir(const Args& a) {
  if (a.positional.size() != 1) throw InputError("expected one run folder DIR (see --help)");
  return a.positional[0];
}
}  // namespace

int cmd_eval(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"data", "eval-batches"});
  if (a.has("help")) {
    std::cout << kEvalHelp;
    return kExitOk;
  }
  OpenedRun t = open_trained_run(single_dir(a), false);
  const Config& c = t.info.config;
  set_num_threads(int(c.train.threads));
  nlohmann::json out = {{"step", t.info.step}};
  if (a.has("data")) {
    std::vector<int32_t> tokens = encode_or_explain(t.info.tokenizer, read_file(a.get("data")), a.get("data"));
    if (int64_t(tokens.size()) < c.model.block_size + 1)
      throw InputError(a.get("data") + ": " + std::to_string(tokens.size()) + " tokens, fewer than block_size + 1 (" +
                       std::to_string(c.model.block_size + 1) + ")");
    auto [loss, n] = sequential_loss(*t.model, tokens, c.train.batch_size, c.model.block_size);
    out["data"] = a.get("data");
    out["loss"] = loss;
    out["tokens"] = n;
  } else {
    int64_t batches = a.get_int("eval-batches", c.train.eval_batches);
    if (batches < 1) throw InputError("--eval-batches must be >= 1");
    RunData d = load_run_data(c, t.info.tokenizer);
    out["train_loss"] = estimate_loss(*t.model, *d.dataset, Split::Train, c, batches);
    out["val_loss"] = estimate_loss(*t.model, *d.dataset, Split::Val, c, batches);
  }
  for (const char* key : {"loss", "train_loss", "val_loss"})
    if (out.contains(key) && !std::isfinite(out[key].get<double>()))
      throw NonFiniteError(checkpoint_path(single_dir(a)) + ": the " + key + " is not finite (NaN or an infinity)");
  std::cout << out.dump() << "\n";
  return kExitOk;
}

int cmd_sample(int argc, char** argv) {
  Args a = parse_args(argc, argv, 2, {"prompt", "tokens", "temperature", "top-k", "seed"});
  if (a.has("help")) {
    std::cout << kSampleHelp;
    return kExitOk;
  }
  int64_t tokens = a.get_int("tokens", 500), top_k = a.get_int("top-k", 0), seed = a.get_int("seed", 1);
  double temperature = a.get_double("temperature", 1.0);
  if (tokens < 0) throw InputError("--tokens must be >= 0");
  if (!(temperature > 0.0)) throw InputError("--temperature must be > 0");
  if (top_k < 0) throw InputError("--top-k must be >= 0 (0 = all)");
  OpenedRun t = open_trained_run(single_dir(a), false);
  set_num_threads(int(t.info.config.train.threads));
  std::cout << sample_text(*t.model, t.info.tokenizer, a.get("prompt"), tokens, temperature, top_k, uint64_t(seed))
            << "\n";
  return kExitOk;
}

}  // namespace peer
