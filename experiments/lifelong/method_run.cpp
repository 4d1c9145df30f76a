#include "experiments/lifelong/method_run.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/io/atomic_file.h"
#include "core/io/checksum.h"
#include "core/parallel.h"
#include "experiments/jobs/queue.h"
#include "experiments/jobs/report_format.h"
#include "experiments/lifelong/pretrain.h"
#include "experiments/run/evaluate.h"
#include "experiments/run/exit_code.h"
#include "experiments/run/interrupt.h"
#include "experiments/run/metrics_log.h"
#include "experiments/run/model_factory.h"
#include "experiments/run/pools.h"
#include "experiments/run/progress.h"
#include "experiments/run/run_folder.h"
#include "experiments/run/train_loop.h"
#include "experiments/run/train_step.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace peer {

std::string method_state_path(const std::string& dir) { return (fs::path(dir) / "state.json").string(); }

namespace {

int64_t trainable_parameters(LanguageModel& m) {
  int64_t n = 0;
  for (const Parameter* p : m.parameters())
    if (p->trainable()) n += p->value.numel();
  return n;
}

// Mean over PEER layers of each pool's share of the retrievals in the forwards since reset_stats.
std::vector<double> pool_shares(const LanguageModel& m) {
  Stats stats;
  m.stats(stats);
  std::vector<double> mean;
  int layers = 0;
  for (const auto& [key, v] : stats) {
    if (!key.ends_with(".pool_share")) continue;
    if (mean.empty()) mean.assign(v.size(), 0.0);
    for (size_t i = 0; i < v.size() && i < mean.size(); ++i) mean[i] += v[i];
    ++layers;
  }
  for (double& x : mean) x /= double(std::max(layers, 1));
  return mean;
}

uint32_t tensor_crc(const Parameter& p) { return crc32(p.value.data(), size_t(p.value.numel()) * sizeof(float)); }

// Adds the CRC of every frozen tensor not yet recorded (those frozen by the latest freeze-and-add),
// and of the query BatchNorm's running statistics once they are fixed.
void record_frozen(LanguageModel& m, MethodRecord& r, bool bn_stats) {
  for (const Parameter* p : m.parameters()) {
    const bool stats = bn_stats && p->buffer && p->name.find(".query_bn.running_") != std::string::npos;
    if (!stats && (!p->frozen || p->buffer)) continue;
    bool known = false;
    for (const auto& [name, crc] : r.frozen_crc) known = known || name == p->name;
    if (!known) r.frozen_crc.push_back({p->name, tensor_crc(*p)});
  }
}

// Frozen means bit-identical: a frozen tensor that changed is a bug in the framework, not bad input.
void verify_frozen(LanguageModel& m, const MethodRecord& r, int64_t phase) {
  for (const auto& [name, crc] : r.frozen_crc)
    for (const Parameter* p : m.parameters())
      if (p->name == name && tensor_crc(*p) != crc)
        throw std::runtime_error("frozen tensor " + name + " changed during phase " + std::to_string(phase));
}


// One method's run through the stream.
class MethodRun {
 public:
  MethodRun(const Experiment& e, const MethodJob& m, const StreamData& data, const std::string& out_dir,
            MethodRecord& rec)
      : e_(e), spec_(*m.spec), m_(m.job), data_(data), out_(out_dir), dir_(job_dir(out_dir, "method", m.job.name)),
        plan_(phase_plan(e.lifelong, spec_, m.job)), rec_(rec) {}
  int run();

 private:
  bool pretraining() const { return e_.lifelong.pretrain_tokens > 0; }
  int64_t pool_of(int64_t domain) const;
  int prepare();
  void build();
  void start_phase(int64_t phase, int64_t first_step);
  void measure(std::vector<double>& loss, std::vector<std::vector<double>>& share);
  void record_phase();
  int train_phase(int64_t phase, int64_t first_step);
  int fail(const std::string& why);
  int64_t global_step(int64_t phase, int64_t s) const { return phase * plan_.steps_per_phase + s; }

  const Experiment& e_;
  const MethodSpec& spec_;
  const Job& m_;
  const StreamData& data_;
  std::string out_, dir_;
  PhasePlan plan_;
  MethodRecord& rec_;  // the caller's, kept up to date for its report
  std::unique_ptr<LanguageModel> model_;
  std::unique_ptr<AdamW> opt_;
  int64_t step_ = 0;  // global step of the restored checkpoint
};

// The pool each domain's tokens go to under oracle routing: domain i's own (pool 0 is the
// pretrain's when there is one), or the newest for domains not reached yet.
int64_t MethodRun::pool_of(int64_t domain) const {
  const auto layers = peer_layers(*model_);
  const int64_t pools = layers.empty() ? 1 : int64_t(layers[0].second->pools.size());
  return std::min(domain + (pretraining() ? 1 : 0), pools - 1);
}

// The shared work this method needs: the pretrain checkpoint and the from-scratch references.
// A non-finite loss there fails the method like one in its own training.
int MethodRun::prepare() {
  std::string failure;
  int rc = kExitOk;
  if (pretraining() && !find_checkpoint(dir_))
    rc = ensure_pretrain(data_, e_.lifelong, m_.config, pretrain_dir(out_, data_, e_.lifelong, m_.config), failure);
  if (rc == kExitOk && !spec_.joint && rec_.scratch_loss.size() != data_.domains.size())
    rc = ensure_scratch(data_, e_.lifelong, m_.config, scratch_dir(out_, data_, e_.lifelong, m_.config),
                        rec_.scratch_loss, failure);
  if (rc == kExitFailed) {
    rec_.failed = failure;
    write_file_atomic(method_state_path(dir_), rec_.to_json());
    std::fprintf(stderr, "\n[run] %s: %s; stopping this method\n", m_.name.c_str(), failure.c_str());
  }
  return rc;
}

void MethodRun::build() {
  const std::optional<CheckpointInfo> ck = find_checkpoint(dir_);
  OpenedRun run = open_run(dir_, m_.config, data_.tokenizer.vocab_size(), ck, true);
  model_ = std::move(run.model);
  opt_ = std::move(run.opt);
  step_ = run.info.step;
  // Rows after the checkpoint (all of them without one) belong to an attempt that was killed.
  truncate_metrics(metrics_path(dir_), step_);
  if (ck) return;
  if (pretraining()) load_checkpoint(checkpoint_path(pretrain_dir(out_, data_, e_.lifelong, m_.config)), *model_, nullptr);
  if (spec_.joint) {  // the final architecture of freeze-and-add, every pool trained
    const int64_t added = plan_.phases - 1 + (pretraining() ? 1 : 0);
    for (int64_t i = 0; i < added; ++i) grow_pools(*model_, GrowOptions{e_.lifelong.pool, false});
    opt_ = std::make_unique<AdamW>(model_->parameters(), adamw_options(m_.config));
  }
}

// Freeze-and-add at a new domain (not when resuming inside a phase: the checkpoint has it), and
// the settings no checkpoint records: fixed BatchNorm statistics and the oracle's pool.
void MethodRun::start_phase(int64_t phase, int64_t first_step) {
  const bool new_domain = phase > 0 || pretraining();
  if (first_step == 0 && new_domain && spec_.add_pools) {
    GrowOptions g{e_.lifelong.pool, true, spec_.freeze_query, spec_.freeze_non_expert, spec_.match_key_scale};
    opt_ = grow_pools_keep_optimizer(*model_, g, *opt_, adamw_options(m_.config), "method '" + m_.name + "'");
  }
  for (auto& [name, layer] : peer_layers(*model_)) {
    if (layer->query_bn) layer->query_bn->fixed_stats = spec_.freeze_bn_stats && new_domain;
    if (spec_.oracle) layer->only_pool = pool_of(phase);
  }
  // Here rather than only after growing: a run killed between a phase's checkpoint and its
  // state.json resumes past the growth, with the pools already frozen in the checkpoint.
  record_frozen(*model_, rec_, spec_.freeze_bn_stats && new_domain);
}

void MethodRun::measure(std::vector<double>& loss, std::vector<std::vector<double>>& share) {
  loss.clear();
  share.clear();
  for (size_t j = 0; j < data_.domains.size(); ++j) {
    if (spec_.oracle)
      for (auto& [name, layer] : peer_layers(*model_)) layer->only_pool = pool_of(int64_t(j));
    model_->reset_stats();
    loss.push_back(sequential_loss(*model_, data_.domains[j].eval, plan_.batch, plan_.block).first);
    share.push_back(pool_shares(*model_));
  }
  model_->reset_stats();
}

void MethodRun::record_phase() {
  verify_frozen(*model_, rec_, rec_.phases_done + 1);
  // Before anything is recorded: a diverged phase is not claimed done (save_checkpoint below
  // would refuse it too, but after the record has changed).
  require_finite_parameters(*model_, "after phase " + std::to_string(rec_.phases_done + 1));
  std::vector<double> loss;
  std::vector<std::vector<double>> share;
  measure(loss, share);
  rec_.loss.push_back(loss);
  rec_.pool_share.push_back(share);
  rec_.params.push_back(count_parameters(*model_));
  rec_.trainable.push_back(trainable_parameters(*model_));
  auto layers = peer_layers(*model_);
  rec_.pools.push_back(layers.empty() ? 0 : int64_t(layers[0].second->pools.size()));
  const int64_t p = rec_.phases_done++;
  json row = {{"step", global_step(p + 1, 0)}, {"phase", p + 1}, {"split", "domains"}};
  std::string line;
  for (size_t j = 0; j < loss.size(); ++j) {
    row["loss"][data_.domains[j].name] = loss[j];
    line += (j ? ", " : "") + data_.domains[j].name + " " + fmt("%.4f", loss[j]);
  }
  std::fprintf(stderr, "[run] %s after phase %ld/%ld: %s\n", m_.name.c_str(), long(p + 1), long(plan_.phases),
               line.c_str());
  // The checkpoint first: a state.json never claims a phase whose weights are not on disk. The
  // metrics row last: a run killed before it measures the phase again and logs it once.
  save_checkpoint(checkpoint_path(dir_), *model_, opt_.get(), m_.config, data_.tokenizer, global_step(p + 1, 0));
  write_file_atomic(method_state_path(dir_), rec_.to_json());
  append_metrics(dir_, row);
}

int MethodRun::train_phase(int64_t phase, int64_t first_step) {
  const Config& c = m_.config;
  start_phase(phase, first_step);
  const std::vector<Window> windows = phase_windows(plan_, phase);
  TrainLoop loop = train_loop_for(c);  // one phase: c.train.steps = S
  // Re-warmed: steps [first, S) of a schedule per phase. Not: steps of one schedule over the stream.
  const int64_t base = spec_.rewarm ? 0 : global_step(phase, 0);
  loop.first = base + first_step;
  if (spec_.rewarm) {
    loop.step_offset = global_step(phase, 0);
  } else {
    loop.end = global_step(phase + 1, 0);
    loop.lr.total_steps = global_step(plan_.phases, 0);
  }
  loop.seconds_before = rec_.train_s;
  loop.next_batch = [&](int64_t s, std::vector<int32_t>& x, std::vector<int32_t>& y) {
    stream_batch(data_, windows, plan_, s - base, x, y);
  };
  loop.add_fields = [&](json& row) { row["phase"] = phase + 1; };
  Progress progress(loop.end, c.train.log_every, m_.name + " phase " + std::to_string(phase + 1));
  const LoopEnd end = train_loop(*model_, *opt_, loop, progress, dir_);
  const int64_t done = end.step - base;  // steps of this phase done
  rec_.train_s = end.seconds;
  if (done > first_step) rec_.tokens_trained = global_step(phase, done) * plan_.batch * plan_.block;
  if (end.stop == LoopStop::NonFinite)
    return fail(std::string("loss is ") + (std::isnan(end.loss) ? "nan" : "inf") + " at phase " +
                std::to_string(phase + 1) + " step " + std::to_string(done));
  progress.finish();
  if (end.stop == LoopStop::Interrupted) {
    save_checkpoint(checkpoint_path(dir_), *model_, opt_.get(), c, data_.tokenizer, global_step(phase, done));
    write_file_atomic(method_state_path(dir_), rec_.to_json());  // its train time and tokens
    std::fprintf(stderr, "[run] interrupted: %s at phase %ld step %ld; checkpoint written to %s\n", m_.name.c_str(),
                 long(phase + 1), long(done), dir_.c_str());
    return kExitInterrupted;
  }
  return kExitOk;
}

int MethodRun::fail(const std::string& why) {
  rec_.failed = why;
  write_file_atomic(method_state_path(dir_), rec_.to_json());
  std::fprintf(stderr, "\n[run] %s: %s; stopping this method (its last phase's checkpoint is kept)\n",
               m_.name.c_str(), rec_.failed.c_str());
  return kExitFailed;
}

int MethodRun::run() {
  write_run_config(dir_, m_.config);
  set_num_threads(int(m_.config.train.threads));
  if (int rc = prepare(); rc != kExitOk) return rc;
  build();
  if (rec_.init_loss.empty()) {
    std::vector<std::vector<double>> share;
    measure(rec_.init_loss, share);
  }
  write_file_atomic(method_state_path(dir_), rec_.to_json());
  for (int64_t p = rec_.phases_done; p < plan_.phases; ++p) {
    if (interrupt_requested()) {  // between phases: the last phase's checkpoint is on disk
      std::fprintf(stderr, "[run] interrupted: %s before phase %ld\n", m_.name.c_str(), long(p + 1));
      return kExitInterrupted;
    }
    // A checkpoint inside phase p (an interrupt) resumes there; one at its start, from the end
    // of phase p - 1, has not had p's freeze-and-add yet.
    const int64_t first = std::max<int64_t>(0, step_ - global_step(p, 0));
    try {
      if (int rc = train_phase(p, first); rc != kExitOk) return rc;
      record_phase();
    } catch (const NonFiniteError& e) {  // a state that no checkpoint may hold
      return fail(e.what());
    }
    step_ = global_step(p + 1, 0);
  }
  rec_.finished = true;
  write_file_atomic(method_state_path(dir_), rec_.to_json());
  return kExitOk;
}

}  // namespace

int run_method(const Experiment& e, const MethodJob& m, const StreamData& data, const std::string& out_dir,
               MethodRecord& rec) {
  return MethodRun(e, m, data, out_dir, rec).run();
}

}  // namespace peer
