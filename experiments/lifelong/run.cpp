#include "experiments/lifelong/run.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "absl/strings/str_join.h"
#include "core/cuda/device.h"
#include "core/error.h"
#include "core/io/checksum.h"
#include "core/io/atomic_file.h"
#include "core/parallel.h"
#include "experiments/lifelong/record.h"
#include "experiments/lifelong/report.h"
#include "experiments/lifelong/stream.h"
#include "experiments/run/pools.h"
#include "experiments/run/progress.h"
#include "experiments/jobs/report_format.h"
#include "experiments/run/data.h"
#include "experiments/run/trainer.h"

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
  MethodRun(const Experiment& e, const Variant& m, const StreamData& data, const std::string& dir, MethodRecord rec)
      : e_(e), m_(m), data_(data), dir_(dir), plan_(phase_plan(e.lifelong, m)), rec_(std::move(rec)) {}
  int run();
  const MethodRecord& record() const { return rec_; }

 private:
  void build();
  void measure(std::vector<double>& loss, std::vector<std::vector<double>>& share);
  void record_phase();
  int train_phase(int64_t phase, int64_t first_step);
  void log(const json& row) {
    std::ofstream f(metrics_path(dir_), std::ios::app);
    f << row.dump() << "\n";
  }
  int64_t global_step(int64_t phase, int64_t s) const { return phase * plan_.steps_per_phase + s; }

  const Experiment& e_;
  const Variant& m_;
  const StreamData& data_;
  std::string dir_;
  PhasePlan plan_;
  MethodRecord rec_;
  std::unique_ptr<LanguageModel> model_;
  std::unique_ptr<AdamW> opt_;
  int64_t step_ = 0;  // global step of the restored checkpoint
};

void MethodRun::build() {
  const Config& c = m_.config;
  model_ = build_model(c, data_.tokenizer.vocab_size());
  const std::string ckpt = checkpoint_path(dir_);
  const bool resume = fs::is_regular_file(ckpt);
  if (resume) {  // the structure first: the optimizer keeps no state for frozen pools
    CheckpointInfo info = read_checkpoint_info(ckpt);
    restore_structure(*model_, info);
    step_ = info.step;
  }
  opt_ = std::make_unique<AdamW>(model_->parameters(), adamw_options(c));
  if (resume) load_checkpoint(ckpt, *model_, opt_.get());
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
  log(row);
}

int MethodRun::train_phase(int64_t phase, int64_t first_step) {
  const Config& c = m_.config;
  const int64_t S = plan_.steps_per_phase, tokens_per_step = plan_.batch * plan_.block;
  if (first_step == 0 && phase > 0 && m_.name == "peer_freeze_add") {
    GrowOptions g{e_.lifelong.pool, true, e_.lifelong.freeze_query, e_.lifelong.freeze_non_expert};
    opt_ = grow_pools_keep_optimizer(*model_, g, *opt_, adamw_options(c), "method '" + m_.name + "'");
  }
  // Here rather than only after growing: a run killed between a phase's checkpoint and its
  // state.json resumes past the growth, with the pools already frozen in the checkpoint.
  record_frozen(*model_, rec_);
  const std::vector<Window> windows = phase_windows(plan_, phase);
  const LrSchedule sched = lr_schedule(c);  // over one phase: c.train.steps = S
  Progress progress(S, c.train.log_every, m_.name + " phase " + std::to_string(phase + 1));
  std::vector<int32_t> x, y;
  for (int64_t s = first_step; s < S; ++s) {
    auto t0 = std::chrono::steady_clock::now();
    stream_batch(data_, windows, plan_, s, x, y);
    const bool logged = (s + 1) % c.train.log_every == 0;
    double gn = 0.0;
    const double loss = train_on_batch(*model_, *opt_, x, y, plan_.batch, plan_.block, uint64_t(global_step(phase, s)),
                                       c.train.grad_clip, sched.at(s), logged ? &gn : nullptr);
    if (!std::isfinite(loss)) {
      rec_.failed = std::string("loss is ") + (std::isnan(loss) ? "nan" : "inf") + " at phase " +
                    std::to_string(phase + 1) + " step " + std::to_string(s);
      write_file_atomic(state_path(dir_), rec_.to_json());
      std::fprintf(stderr, "\n[run] %s: %s; stopping this method (its last phase's checkpoint is kept)\n",
                   m_.name.c_str(), rec_.failed.c_str());
      return kExitFailed;
    }
    rec_.train_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rec_.tokens_trained = global_step(phase, s + 1) * tokens_per_step;  // right after any resume too
    const double tps = double(rec_.tokens_trained) / rec_.train_s;
    progress.update(s + 1, loss, sched.at(s), tps);
    if (logged)
      log({{"step", global_step(phase, s + 1)}, {"phase", phase + 1}, {"split", "train"}, {"loss", loss},
           {"lr", sched.at(s)}, {"grad_norm", gn}, {"tokens_per_s", tps}});
    if (interrupt_requested() && s + 1 < S) {
      progress.finish();
      save_checkpoint(checkpoint_path(dir_), *model_, opt_.get(), c, data_.tokenizer, global_step(phase, s + 1));
      write_file_atomic(state_path(dir_), rec_.to_json());  // its train time and tokens
      std::fprintf(stderr, "[run] interrupted: %s at phase %ld step %ld; checkpoint written to %s\n", m_.name.c_str(),
                   long(phase + 1), long(s + 1), dir_.c_str());
      return kExitInterrupted;
    }
  }
  progress.finish();
  return kExitOk;
}

int MethodRun::run() {
  fs::create_directories(dir_);
  write_file_atomic((fs::path(dir_) / "config.toml").string(), to_toml(m_.config));
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
    if (int rc = train_phase(p, first); rc != kExitOk) return rc;
    record_phase();
    step_ = global_step(p + 1, 0);
  }
  rec_.finished = true;
  write_file_atomic(state_path(dir_), rec_.to_json());
  return kExitOk;
}

struct Planned {
  const Variant* method;
  std::string dir;
  MethodRecord record;
};

// Reads what a method folder holds, refusing folders of another config or stream.
MethodRecord existing_record(const Variant& m, const std::string& dir, const std::string& key) {
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

void print_plan(const Experiment& e, const std::vector<Planned>& planned, const StreamData& data) {
  std::printf("%-16s %-6s %7s %7s %12s %12s  %s\n", "method", "ffn", "phases", "steps", "tokens", "params", "state");
  for (const Planned& p : planned) {
    const PhasePlan pp = phase_plan(e.lifelong, *p.method);
    const int64_t params = count_parameters(*build_model(p.method->config, data.tokenizer.vocab_size()));
    std::printf("%-16s %-6s %7ld %7ld %12ld %12ld  %s\n", p.method->name.c_str(), p.method->config.model.ffn.c_str(),
                long(pp.phases), long(pp.steps_per_phase), long(pp.phases * pp.steps_per_phase * pp.batch * pp.block),
                long(params), p.record.finished ? "done" : !p.record.failed.empty() ? "failed" : p.record.phases_done > 0 ? "resume" : "new");
  }
}

}  // namespace

int run_lifelong(const Experiment& e, const std::string& out_dir, bool plan_only) {
  install_interrupt_handler();
  const StreamData data = load_stream(e);
  const std::string key = stream_key(e.lifelong);
  std::vector<Planned> planned;
  for (const Variant& m : e.variants) {
    check_stream_fits(data, phase_plan(e.lifelong, m), m.name);
    if (m.config.train.device == "cuda" && !plan_only)
      cuda::refuse("[lifelong] method '" + m.name + "': train.device = \"cuda\"", "the training step");
    const std::string dir = (fs::path(out_dir) / "methods" / m.name).string();
    planned.push_back({&m, dir, existing_record(m, dir, key)});
  }
  if (plan_only) {
    print_plan(e, planned, data);
    return kExitOk;
  }
  fs::create_directories(fs::path(out_dir) / "methods");
  write_file_atomic((fs::path(out_dir) / "experiment.toml").string(), read_file(e.path));
  std::fprintf(stderr, "[run] lifelong stream %s: %zu methods x %zu domains, %ld tokens per phase, into %s\n",
               e.path.c_str(), planned.size(), data.domains.size(), long(e.lifelong.tokens_per_phase), out_dir.c_str());
  auto records = [&] {
    std::vector<MethodRecord> r;
    for (const Planned& p : planned) r.push_back(p.record);
    return r;
  };
  std::vector<std::string> failed;
  for (Planned& p : planned) {
    if (!p.record.failed.empty()) {  // deterministic: running it again would fail the same way
      std::fprintf(stderr, "[run] method '%s' failed earlier (%s); skipped. Change its config, or delete %s to "
                   "retry\n", p.method->name.c_str(), p.record.failed.c_str(), p.dir.c_str());
      failed.push_back(p.method->name);
      continue;
    }
    if (p.record.finished) {
      std::fprintf(stderr, "[run] method '%s': done, skipped\n", p.method->name.c_str());
      continue;
    }
    if (interrupt_requested()) break;
    std::fprintf(stderr, "[run] method '%s' (%s): %ld phases of %ld steps\n", p.method->name.c_str(),
                 p.method->config.model.ffn.c_str(), long(data.domains.size()),
                 long(phase_plan(e.lifelong, *p.method).steps_per_phase));
    // A folder without state.json was killed before its first measurement: start it over.
    if (!fs::is_regular_file(state_path(p.dir)) && fs::exists(p.dir)) fs::remove_all(p.dir);
    MethodRun run(e, *p.method, data, p.dir, p.record);
    const int rc = run.run();
    p.record = run.record();
    if (rc == kExitInterrupted) break;
    if (rc != kExitOk) failed.push_back(p.method->name);
    write_lifelong_report(e, data, records(), out_dir);  // partial results are readable while it runs
  }
  write_lifelong_report(e, data, records(), out_dir);
  bool all_done = true;
  for (const Planned& p : planned) all_done = all_done && (p.record.finished || !p.record.failed.empty());
  if (interrupt_requested() && !all_done) {
    std::cerr << "[run] interrupted; run the same command again to continue\n";
    return kExitInterrupted;
  }
  std::cerr << "[run] wrote " << out_dir << "/results.csv, report.md and plots\n";
  if (!failed.empty()) {
    std::cerr << "[run] failed methods: " << absl::StrJoin(failed, ", ") << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace peer
