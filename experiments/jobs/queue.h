// The jobs of one `peer run` (experiment.h: sweep variants x seeds, or lifelong methods), each
// trained into its own folder, one after the other: the skeleton sweeps and lifelong streams
// share. What a folder's state means, how a job trains and what the report holds are theirs
// (sweep/run.cpp, lifelong/run.cpp).
//
// Scale-out: `--shard I/N` runs only jobs j (0-based, in plan order) with j % N == I - 1; any
// number of processes, on machines sharing the output folder's filesystem, may run at once, as
// each job is claimed before it trains (claim.h) and a finished job is never run again.
// `--report` trains nothing and rewrites the report from the jobs finished so far.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "experiments/jobs/experiment.h"

namespace peer {

// --shard I/N (1 <= I <= N); the default 1/1 is every job.
struct Shard {
  int64_t index = 1, count = 1;
  bool has(size_t job) const { return int64_t(job % size_t(count)) == index - 1; }
  std::string describe() const { return std::to_string(index) + "/" + std::to_string(count); }
};
// InputError naming --shard and the reason for anything but "I/N" with whole numbers 1 <= I <= N.
Shard parse_shard(const std::string& text);

// How `peer run` was asked to run.
struct RunMode {
  bool plan = false;    // --plan: print the plan, train nothing
  bool report = false;  // --report: rewrite results.csv, report.md and plots, train nothing
  Shard shard;
};

enum class JobState { New, Resume, Done, Failed };
// "new", "resume", "done", "failed": the state column of --plan.
const char* state_name(JobState s);

// What one kind of experiment plugs into run_jobs.
struct JobKind {
  std::string noun;                // "job" | "method": messages
  std::string intro;               // the line printed before the first job
  std::vector<std::string> names;  // job i in messages ("dense seed 1")
  std::vector<std::string> dirs;   // job i's run folder
  std::function<JobState(size_t i)> reload;        // job i's state read again from its folder
  std::function<std::string(size_t i)> done_note;  // after "done" when a job is skipped; may be empty
  std::function<std::string(size_t i)> failure;    // why a job planned Failed failed; may be empty
  std::function<void(size_t i)> announce;          // before job i trains
  std::function<int(size_t i)> run;                // trains job i: kExitOk, kExitFailed, kExitInterrupted
  std::function<void()> write_report;              // results.csv, report.md and plots of all finished jobs
  std::function<void()> summarize;                 // after the last job when none was cut short; may be empty
};

// OUT/<noun>s/NAME.
std::string job_dir(const std::string& out_dir, const std::string& noun, const std::string& name);

// Copies the experiment file into OUT, then runs the shard's jobs in order: skips Done and
// Failed ones (a failure is deterministic: running it again would fail the same way) and those
// another live process has claimed; claims each other one, reads its state again (another
// process may have finished it meanwhile), starts a New job's folder over (whatever is there was
// killed before it could be resumed), stops at Ctrl-C and writes the report after every job, so
// partial results are readable while it runs. Returns kExitOk, kExitFailed (a job failed, the
// others ran) or kExitInterrupted.
int run_jobs(const Experiment& e, const std::string& out_dir, std::vector<JobState>& states, const JobKind& kind,
             const Shard& shard);

}  // namespace peer
