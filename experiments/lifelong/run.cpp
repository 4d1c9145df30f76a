#include "experiments/lifelong/run.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/cuda/device.h"
#include "core/error.h"
#include "core/io/atomic_file.h"
#include "core/io/checksum.h"
#include "core/parallel.h"
#include "experiments/jobs/queue.h"
#include "experiments/jobs/report_format.h"
#include "experiments/lifelong/record.h"
#include "experiments/lifelong/report.h"
#include "experiments/lifelong/stream.h"
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

namespace {

std::string state_path(const std::string& dir) { return (fs::path(dir) / "state.json").string(); }

// Everything about the stream that decides a method's results besides its own config.
std::string stream_key(const LifelongSpec& s) {
  std::ostringstream k;
  k << "tokens_per_phase=" << s.tokens_per_phase << " eval_tokens=" << s.eval_tokens << " pool=" << s.pool.n1 << "x"
    << s.pool.n2 << " freeze_query=" << s.freeze_query << " freeze_non_expert=" << s.freeze_non_expert;
  for (const Domain& d : s.domains) {
    k << " | " << d.name << ":" << d.data.source << ":";
    for (const auto& g : d.data.genres) k << g << ",";
    for (const auto& f : d.data.files) k << f << ",";
  }
  return k.str();
}

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

// Adds the CRC of every frozen tensor not yet recorded (those frozen by the latest freeze-and-add).
void record_frozen(LanguageModel& m, MethodRecord& r) {
  for (const Parameter* p : m.parameters()) {
    if (!p->frozen || p->buffer) continue;
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
  MethodRun(const Experiment& e, const Job& m, const StreamData& data, const std::string& dir, MethodRecord& rec)
      : e_(e), m_(m), data_(data), dir_(dir), plan_(phase_plan(e.lifelong, m)), rec_(rec) {}
  int run();

 private:
  void build();
  void measure(std::vector<double>& loss, std::vector<std::vector<double>>& share);
  void record_phase();
  int train_phase(int64_t phase, int64_t first_step);
  int fail(const std::string& why);
  int64_t global_step(int64_t phase, int64_t s) const { return phase * plan_.steps_per_phase + s; }

  const Experiment& e_;
  const Job& m_;
  const StreamData& data_;
  std::string dir_;
  PhasePlan plan_;
  MethodRecord& rec_;  // the caller's, kept up to date for its report
  std::unique_ptr<LanguageModel> model_;
  std::unique_ptr<AdamW> opt_;
  int64_t step_ = 0;  // global step of the restored checkpoint
};

void MethodRun::build() {
  OpenedRun run = open_run(dir_, m_.config, data_.tokenizer.vocab_size(), find_checkpoint(dir_), true);
  model_ = std::move(run.model);
  opt_ = std::move(run.opt);
  step_ = run.info.step;
  // Rows after the checkpoint (all of them without one) belong to an attempt that was killed.
  truncate_metrics(metrics_path(dir_), step_);
}

void MethodRun::measure(std::vector<double>& loss, std::vector<std::vector<double>>& share) {
  loss.clear();
  share.clear();
  for (const DomainText& d : data_.domains) {
    model_->reset_stats();
    loss.push_back(sequential_loss(*model_, d.eval, plan_.batch, plan_.block).first);
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
  write_file_atomic(state_path(dir_), rec_.to_json());
  append_metrics(dir_, row);
}

int MethodRun::train_phase(int64_t phase, int64_t first_step) {
  const Config& c = m_.config;
  if (first_step == 0 && phase > 0 && m_.name == "peer_freeze_add") {
    GrowOptions g{e_.lifelong.pool, true, e_.lifelong.freeze_query, e_.lifelong.freeze_non_expert};
    opt_ = grow_pools_keep_optimizer(*model_, g, *opt_, adamw_options(c), "method '" + m_.name + "'");
  }
  // Here rather than only after growing: a run killed between a phase's checkpoint and its
  // state.json resumes past the growth, with the pools already frozen in the checkpoint.
  record_frozen(*model_, rec_);
  const std::vector<Window> windows = phase_windows(plan_, phase);
  TrainLoop loop = train_loop_for(c);  // one phase: c.train.steps = S
  loop.first = first_step;
  loop.step_offset = global_step(phase, 0);
  loop.seconds_before = rec_.train_s;
  loop.next_batch = [&](int64_t s, std::vector<int32_t>& x, std::vector<int32_t>& y) {
    stream_batch(data_, windows, plan_, s, x, y);
  };
  loop.add_fields = [&](json& row) { row["phase"] = phase + 1; };
  Progress progress(plan_.steps_per_phase, c.train.log_every, m_.name + " phase " + std::to_string(phase + 1));
  const LoopEnd end = train_loop(*model_, *opt_, loop, progress, dir_);
  rec_.train_s = end.seconds;
  if (end.step > first_step) rec_.tokens_trained = global_step(phase, end.step) * plan_.batch * plan_.block;
  if (end.stop == LoopStop::NonFinite)
    return fail(std::string("loss is ") + (std::isnan(end.loss) ? "nan" : "inf") + " at phase " +
                std::to_string(phase + 1) + " step " + std::to_string(end.step));
  progress.finish();
  if (end.stop == LoopStop::Interrupted) {
    save_checkpoint(checkpoint_path(dir_), *model_, opt_.get(), c, data_.tokenizer, global_step(phase, end.step));
    write_file_atomic(state_path(dir_), rec_.to_json());  // its train time and tokens
    std::fprintf(stderr, "[run] interrupted: %s at phase %ld step %ld; checkpoint written to %s\n", m_.name.c_str(),
                 long(phase + 1), long(end.step), dir_.c_str());
    return kExitInterrupted;
  }
  return kExitOk;
}

int MethodRun::fail(const std::string& why) {
  rec_.failed = why;
  write_file_atomic(state_path(dir_), rec_.to_json());
  std::fprintf(stderr, "\n[run] %s: %s; stopping this method (its last phase's checkpoint is kept)\n",
               m_.name.c_str(), rec_.failed.c_str());
  return kExitFailed;
}

int MethodRun::run() {
  write_run_config(dir_, m_.config);
  set_num_threads(int(m_.config.train.threads));
  build();
  if (rec_.init_loss.empty()) {
    std::vector<std::vector<double>> share;
    measure(rec_.init_loss, share);
    write_file_atomic(state_path(dir_), rec_.to_json());
  }
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
  write_file_atomic(state_path(dir_), rec_.to_json());
  return kExitOk;
}

// Reads what a method folder holds, refusing folders of another config or stream.
MethodRecord existing_record(const Job& m, const std::string& dir, const std::string& key) {
  MethodRecord fresh;
  fresh.method = m.name;
  fresh.stream_key = key;
  if (!fs::is_regular_file(state_path(dir))) return fresh;  // new, or killed before its first measurement
  require_same_config(dir, m.config, "method '" + m.name + "'");
  MethodRecord r = MethodRecord::from_json(read_file(state_path(dir)), state_path(dir));
  if (r.stream_key != key)
    throw InputError("method '" + m.name + "': " + dir + " was trained on another stream (domains, tokens_per_phase, "
                     "eval_tokens or pool options differ); use another --out, or delete that folder to retrain it");
  return r;
}

// New: no state.json yet (a folder there was killed before its first measurement).
JobState state_of(const MethodRecord& r, const std::string& dir) {
  if (r.finished) return JobState::Done;
  if (!r.failed.empty()) return JobState::Failed;
  return fs::is_regular_file(state_path(dir)) ? JobState::Resume : JobState::New;
}

void print_plan(const Experiment& e, const std::vector<JobState>& states, const StreamData& data) {
  std::printf("%-16s %-6s %7s %7s %12s %12s  %s\n", "method", "ffn", "phases", "steps", "tokens", "params", "state");
  for (size_t i = 0; i < e.jobs.size(); ++i) {
    const Job& m = e.jobs[i];
    const PhasePlan pp = phase_plan(e.lifelong, m);
    const int64_t params = count_parameters(*build_model(m.config, data.tokenizer.vocab_size()));
    std::printf("%-16s %-6s %7ld %7ld %12ld %12ld  %s\n", m.name.c_str(), m.config.model.ffn.c_str(), long(pp.phases),
                long(pp.steps_per_phase), long(pp.phases * pp.steps_per_phase * pp.batch * pp.block), long(params),
                state_name(states[i]));
  }
}

}  // namespace

int run_lifelong(const Experiment& e, const std::string& out_dir, const RunMode& mode) {
  const bool plan_only = mode.plan;
  install_interrupt_handler();
  const StreamData data = load_stream(e);
  const std::string key = stream_key(e.lifelong);
  std::vector<MethodRecord> records;
  std::vector<JobState> states;
  for (const Job& m : e.jobs) {
    check_stream_fits(data, phase_plan(e.lifelong, m), m.name);
    if (m.config.train.device == "cuda" && !plan_only)
      cuda::refuse("[lifelong] method '" + m.name + "': train.device = \"cuda\"", "a lifelong stream");
    const std::string dir = job_dir(out_dir, "method", m.name);
    records.push_back(existing_record(m, dir, key));
    states.push_back(state_of(records.back(), dir));
  }
  if (plan_only) {
    print_plan(e, states, data);
    return kExitOk;
  }
  if (mode.report) {
    write_lifelong_report(e, data, records, out_dir);
    return kExitOk;
  }
  JobKind kind;
  kind.noun = "method";
  for (const Job& m : e.jobs) {
    kind.names.push_back(m.name);
    kind.dirs.push_back(job_dir(out_dir, kind.noun, m.name));
  }
  kind.reload = [&](size_t i) {
    records[i] = existing_record(e.jobs[i], kind.dirs[i], key);
    return state_of(records[i], kind.dirs[i]);
  };
  kind.intro = "[run] lifelong stream " + e.path + ": " +
               std::to_string(e.jobs.size()) + " methods x " + std::to_string(data.domains.size()) + " domains, " +
               std::to_string(e.lifelong.tokens_per_phase) + " tokens per phase, into " + out_dir + "\n";
  kind.failure = [&](size_t i) { return records[i].failed; };
  kind.announce = [&](size_t i) {
    std::fprintf(stderr, "[run] method '%s' (%s): %ld phases of %ld steps\n", e.jobs[i].name.c_str(),
                 e.jobs[i].config.model.ffn.c_str(), long(data.domains.size()),
                 long(phase_plan(e.lifelong, e.jobs[i]).steps_per_phase));
  };
  kind.run = [&](size_t i) {
    return MethodRun(e, e.jobs[i], data, kind.dirs[i], records[i]).run();
  };
  kind.write_report = [&] {
    for (size_t i = 0; i < e.jobs.size(); ++i)  // other shards' methods as they are on disk now
      if (!mode.shard.has(i)) records[i] = existing_record(e.jobs[i], kind.dirs[i], key);
    write_lifelong_report(e, data, records, out_dir);
  };
  return run_jobs(e, out_dir, states, kind, mode.shard);
}

}  // namespace peer
