#include "experiments/lifelong/run.h"

#include <cstdio>
#include <filesystem>
#include <set>
#include <sstream>

#include "core/cuda/device.h"
#include "core/error.h"
#include "core/io/atomic_file.h"
#include "experiments/jobs/queue.h"
#include "experiments/lifelong/method_run.h"
#include "experiments/lifelong/pretrain.h"
#include "experiments/lifelong/record.h"
#include "experiments/lifelong/report.h"
#include "experiments/lifelong/stream.h"
#include "experiments/run/exit_code.h"
#include "experiments/run/interrupt.h"
#include "experiments/run/model_factory.h"
#include "experiments/run/run_folder.h"

namespace fs = std::filesystem;

namespace peer {

namespace {

// Everything about the stream and the method's options that decides its results besides its config.
std::string stream_key(const LifelongSpec& s, const MethodSpec& m) {
  std::ostringstream k;
  k << "tokens_per_phase=" << s.tokens_per_phase << " eval_tokens=" << s.eval_tokens << " pool=" << s.pool.n1 << "x"
    << s.pool.n2 << " method=" << m.name << " add_pools=" << m.add_pools << " freeze_query=" << m.freeze_query
    << " freeze_bn_stats=" << m.freeze_bn_stats << " freeze_non_expert=" << m.freeze_non_expert
    << " match_key_scale=" << m.match_key_scale << " oracle=" << m.oracle << " rewarm=" << m.rewarm;
  if (m.replay) k << " replay=" << s.replay_fraction << "/" << s.replay_tokens;
  if (s.pretrain_tokens > 0) k << " pretrain=" << s.pretrain_tokens << ":" << describe(s.pretrain);
  for (const Domain& d : s.domains) k << " | " << describe(d);
  return k.str();
}

// Reads what a method folder holds, refusing folders of another config or stream.
MethodRecord existing_record(const MethodJob& m, const std::string& dir, const std::string& key) {
  MethodRecord fresh;
  fresh.method = m.spec->name;
  fresh.seed = m.job.config.train.seed;
  fresh.stream_key = key;
  if (!fs::is_regular_file(method_state_path(dir))) return fresh;  // new, or killed before its first measurement
  require_same_config(dir, m.job.config, "method '" + m.job.name + "'");
  MethodRecord r = MethodRecord::from_json(read_file(method_state_path(dir)), method_state_path(dir));
  if (r.stream_key != key)
    throw InputError("method '" + m.job.name + "': " + dir + " was trained on another stream (domains, pretrain, "
                     "tokens_per_phase, eval_tokens, pool, replay or method options differ); use another --out, or "
                     "delete that folder to retrain it");
  return r;
}

// New: no state.json yet (a folder there was killed before its first measurement).
JobState state_of(const MethodRecord& r, const std::string& dir) {
  if (r.finished) return JobState::Done;
  if (!r.failed.empty()) return JobState::Failed;
  return fs::is_regular_file(method_state_path(dir)) ? JobState::Resume : JobState::New;
}

// Every method at every seed, seeds outermost (a first seed of every method finishes first);
// the folder is NAME with one seed, NAME-sSEED with several.
std::vector<MethodJob> method_jobs(const Experiment& e) {
  std::vector<MethodJob> out;
  for (int64_t seed : e.lifelong.seeds)
    for (size_t i = 0; i < e.jobs.size(); ++i) {
      MethodJob m{&e.lifelong.methods[i], e.jobs[i]};
      m.job.config.train.seed = seed;
      if (e.lifelong.seeds.size() > 1) m.job.name += "-s" + std::to_string(seed);
      out.push_back(std::move(m));
    }
  return out;
}

void print_plan(const Experiment& e, const std::vector<MethodJob>& jobs, const std::vector<JobState>& states,
                const StreamData& data, const std::string& out_dir) {
  std::printf("%-22s %-6s %7s %7s %12s %12s  %s\n", "method", "ffn", "phases", "steps", "tokens", "params", "state");
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Job& m = jobs[i].job;
    const PhasePlan pp = phase_plan(e.lifelong, *jobs[i].spec, m);
    const int64_t params = count_parameters(*build_model(m.config, data.tokenizer.vocab_size()));
    std::printf("%-22s %-6s %7ld %7ld %12ld %12ld  %s\n", m.name.c_str(), m.config.model.ffn.c_str(), long(pp.phases),
                long(pp.steps_per_phase), long(pp.phases * pp.steps_per_phase * pp.batch * pp.block), long(params),
                state_name(states[i]));
  }
  std::set<std::string> shown;
  for (const MethodJob& m : jobs) {
    if (e.lifelong.pretrain_tokens == 0) break;
    const std::string dir = pretrain_dir(out_dir, data, e.lifelong, m.job.config);
    if (shown.insert(dir).second)
      std::printf("pretrain %s: %ld steps, %s\n", dir.c_str(), long(pretrain_steps(e.lifelong, m.job.config)),
                  pretrain_done(dir) ? "done" : "new");
  }
}

}  // namespace

int run_lifelong(const Experiment& e, const std::string& out_dir, const RunMode& mode) {
  const bool plan_only = mode.plan;
  install_interrupt_handler();
  const StreamData data = load_stream(e);
  Experiment ex = e;  // its jobs: every method at every seed, for the job queue
  const std::vector<MethodJob> jobs = method_jobs(e);
  ex.jobs.clear();
  std::vector<MethodRecord> records;
  std::vector<JobState> states;
  for (const MethodJob& m : jobs) {
    const PhasePlan plan = phase_plan(e.lifelong, *m.spec, m.job);
    check_stream_fits(data, plan, e.lifelong.pretrain_tokens > 0 ? pretrain_steps(e.lifelong, m.job.config) : 0,
                      m.job.name);
    if (m.job.config.train.device == "cuda" && !plan_only)
      cuda::refuse("[lifelong] method '" + m.job.name + "': train.device = \"cuda\"", "a lifelong stream");
    const std::string dir = job_dir(out_dir, "method", m.job.name);
    records.push_back(existing_record(m, dir, stream_key(e.lifelong, *m.spec)));
    states.push_back(state_of(records.back(), dir));
    ex.jobs.push_back(m.job);
  }
  if (plan_only) {
    print_plan(e, jobs, states, data, out_dir);
    return kExitOk;
  }
  if (mode.report) {
    write_lifelong_report(e, data, records, out_dir);
    return kExitOk;
  }
  JobKind kind;
  kind.noun = "method";
  for (const MethodJob& m : jobs) {
    kind.names.push_back(m.job.name);
    kind.dirs.push_back(job_dir(out_dir, kind.noun, m.job.name));
  }
  auto reread = [&](size_t i) {  // job i's record as it is on disk now (another shard may run it)
    records[i] = existing_record(jobs[i], kind.dirs[i], stream_key(e.lifelong, *jobs[i].spec));
  };
  kind.reload = [&](size_t i) {
    reread(i);
    return state_of(records[i], kind.dirs[i]);
  };
  kind.intro = "[run] lifelong stream " + e.path + ": " + std::to_string(e.jobs.size()) + " methods x " +
               std::to_string(e.lifelong.seeds.size()) + " seeds x " + std::to_string(data.domains.size()) +
               " domains, " + std::to_string(e.lifelong.tokens_per_phase) + " tokens per phase" +
               (e.lifelong.pretrain_tokens > 0 ? ", after " + std::to_string(e.lifelong.pretrain_tokens) +
                                                     " tokens of pretraining"
                                               : "") +
               ", into " + out_dir + "\n";
  kind.failure = [&](size_t i) { return records[i].failed; };
  kind.announce = [&](size_t i) {
    std::fprintf(stderr, "[run] method '%s' (%s): %ld phases of %ld steps\n", jobs[i].job.name.c_str(),
                 jobs[i].job.config.model.ffn.c_str(), long(data.domains.size()),
                 long(phase_plan(e.lifelong, *jobs[i].spec, jobs[i].job).steps_per_phase));
  };
  kind.run = [&](size_t i) { return run_method(e, jobs[i], data, out_dir, records[i]); };
  kind.write_report = [&] {
    for (size_t i = 0; i < jobs.size(); ++i)
      if (!mode.shard.has(i)) reread(i);  // other shards' methods
    write_lifelong_report(e, data, records, out_dir);
  };
  return run_jobs(ex, out_dir, states, kind, mode.shard);
}

}  // namespace peer
