#include "experiments/lifelong/pretrain.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/io/atomic_file.h"
#include "core/io/checksum.h"
#include "experiments/run/checkpoint.h"
#include "experiments/run/evaluate.h"
#include "experiments/run/exit_code.h"
#include "experiments/run/model_factory.h"
#include "experiments/run/progress.h"
#include "experiments/run/run_folder.h"
#include "experiments/run/train_loop.h"
#include "experiments/run/train_step.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace peer {

namespace {

Config with_steps(Config c, int64_t steps) {
  c.train.steps = steps;
  return c;
}

// OUT/shared/KIND-FFN-sSEED-CRC, CRC over what decides the folder's result.
std::string shared_dir(const std::string& out_dir, const std::string& kind, const Config& c, const std::string& what,
                       const StreamData& d) {
  const std::string key = to_toml(c) + "\n" + what + "\nvocabulary:" + d.tokenizer.symbols();
  char crc[9];
  std::snprintf(crc, sizeof crc, "%08x", unsigned(crc32(key.data(), key.size())));
  return (fs::path(out_dir) / "shared" / (kind + "-" + c.model.ffn + "-s" + std::to_string(c.train.seed) + "-" + crc))
      .string();
}

// Trains a fresh model of config c over `windows` (c.train.steps steps), train rows into dir.
// Returns the loop's end; the model is left in `model`.
LoopEnd train_fresh(const StreamData& d, const Config& c, const std::vector<Window>& windows, const std::string& dir,
                    const std::string& label, std::unique_ptr<LanguageModel>& model) {
  fs::remove_all(dir);
  write_run_config(dir, c);
  model = build_model(c, d.tokenizer.vocab_size());
  AdamW opt(model->parameters(), adamw_options(c));
  TrainLoop loop = train_loop_for(c);
  PhasePlan p;
  p.batch = c.train.batch_size;
  p.block = c.model.block_size;
  loop.next_batch = [&](int64_t s, std::vector<int32_t>& x, std::vector<int32_t>& y) {
    stream_batch(d, windows, p, s, x, y);
  };
  Progress progress(loop.end, c.train.log_every, label);
  const LoopEnd end = train_loop(*model, opt, loop, progress, dir);
  if (end.stop == LoopStop::Finished) progress.finish();
  return end;
}

// The exit code of a loop that did not finish; a non-finite loss is described in `failure`.
int stopped(const LoopEnd& end, const std::string& what, std::string& failure) {
  if (end.stop == LoopStop::Interrupted) {
    std::fprintf(stderr, "\n[run] interrupted: %s (restarts from its beginning next time)\n", what.c_str());
    return kExitInterrupted;
  }
  failure = std::string("loss is ") + (std::isnan(end.loss) ? "nan" : "inf") + " in " + what + " at step " +
            std::to_string(end.step);
  return kExitFailed;
}

}  // namespace

int64_t pretrain_steps(const LifelongSpec& s, const Config& c) {
  Config x = c;
  x.train.tokens = s.pretrain_tokens;
  return x.total_steps();
}

std::string pretrain_dir(const std::string& out_dir, const StreamData& d, const LifelongSpec& s, const Config& c) {
  return shared_dir(out_dir, "pretrain", with_steps(c, pretrain_steps(s, c)), describe(s.pretrain), d);
}

std::string scratch_dir(const std::string& out_dir, const StreamData& d, const LifelongSpec& s, const Config& c) {
  std::string what = "eval_tokens=" + std::to_string(s.eval_tokens);
  for (const Domain& x : s.domains) what += " | " + describe(x);
  return shared_dir(out_dir, "scratch", c, what, d);
}

bool pretrain_done(const std::string& dir) { return fs::is_regular_file(fs::path(dir) / "done.json"); }

int ensure_pretrain(const StreamData& d, const LifelongSpec& s, const Config& c, const std::string& dir,
                    std::string& failure) {
  if (pretrain_done(dir)) return kExitOk;
  const Config pc = with_steps(c, pretrain_steps(s, c));
  std::fprintf(stderr, "[run] pretraining (%s, seed %ld): %ld steps into %s\n", c.model.ffn.c_str(), long(c.train.seed),
               long(pc.train.steps), dir.c_str());
  std::unique_ptr<LanguageModel> model;
  const LoopEnd end = train_fresh(d, pc, lane_windows(kPretrain, pc.train.steps, pc.train.batch_size, pc.model.block_size),
                                  dir, "pretrain", model);
  if (end.stop != LoopStop::Finished) return stopped(end, "pretraining into " + dir, failure);
  save_checkpoint(checkpoint_path(dir), *model, nullptr, pc, d.tokenizer, pc.train.steps);
  const double val = d.pretrain.val.size() > size_t(pc.model.block_size)
                         ? sequential_loss(*model, d.pretrain.val, pc.train.batch_size, pc.model.block_size).first
                         : NAN;
  write_file_atomic((fs::path(dir) / "done.json").string(),
                    json({{"steps", pc.train.steps}, {"train_s", end.seconds}, {"val_loss", val}}).dump() + "\n");
  return kExitOk;
}

int ensure_scratch(const StreamData& d, const LifelongSpec& s, const Config& c, const std::string& dir,
                   std::vector<double>& loss, std::string& failure) {
  const std::string state = (fs::path(dir) / "scratch.json").string();
  loss.clear();
  if (fs::is_regular_file(state)) loss = json::parse(read_file(state)).at("loss").get<std::vector<double>>();
  for (size_t j = loss.size(); j < d.domains.size(); ++j) {
    std::fprintf(stderr, "[run] from-scratch reference (%s, seed %ld) on domain '%s'\n", c.model.ffn.c_str(),
                 long(c.train.seed), d.domains[j].name.c_str());
    std::unique_ptr<LanguageModel> model;
    const std::string sub = (fs::path(dir) / d.domains[j].name).string();
    const LoopEnd end = train_fresh(d, c, lane_windows(int32_t(j), c.train.steps, c.train.batch_size, c.model.block_size),
                                    sub, "scratch " + d.domains[j].name, model);
    if (end.stop != LoopStop::Finished) return stopped(end, "the from-scratch reference on " + d.domains[j].name, failure);
    loss.push_back(sequential_loss(*model, d.domains[j].eval, c.train.batch_size, c.model.block_size).first);
    write_file_atomic(state, json({{"loss", loss}}).dump() + "\n");
  }
  return kExitOk;
}

}  // namespace peer
