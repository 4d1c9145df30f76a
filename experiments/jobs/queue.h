// The jobs of one `peer run` (experiment.h: sweep variants or lifelong methods), each trained
// into its own folder OUT/<noun>s/NAME, one after the other: the skeleton sweeps and lifelong
// streams share. What a folder's state means, how a job trains and what the report holds are
// theirs (sweep/run.cpp, lifelong/run.cpp).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "experiments/jobs/experiment.h"

namespace peer {

enum class JobState { New, Resume, Done, Failed };
// "new", "resume", "done", "failed": the state column of --plan.
const char* state_name(JobState s);

// What one kind of experiment plugs into run_jobs; job i is e.jobs[i].
struct JobKind {
  std::string noun;   // "variant" | "method": folder OUT/<noun>s, and messages
  std::string intro;  // the line printed before the first job
  std::function<std::string(size_t i)> done_note;  // after "done" when a job is skipped; may be empty
  std::function<std::string(size_t i)> failure;    // why a job planned Failed failed; may be empty
  std::function<void(size_t i)> announce;          // before job i trains
  std::function<int(size_t i)> run;                // trains job i: kExitOk, kExitFailed, kExitInterrupted
  std::function<void()> write_report;              // results.csv, report.md and plots
  std::function<void()> summarize;                 // after the last job when none was cut short; may be empty
};

// OUT/<noun>s/NAME.
std::string job_dir(const std::string& out_dir, const std::string& noun, const std::string& name);

// Copies the experiment file into OUT, then runs the jobs in order: skips Done and Failed ones
// (a failure is deterministic: running it again would fail the same way), starts a New job's
// folder over (whatever is there was killed before it could be resumed), stops at Ctrl-C and
// writes the report after every job, so partial results are readable while it runs. Returns
// kExitOk, kExitFailed (a job failed, the others ran) or kExitInterrupted.
int run_jobs(const Experiment& e, const std::string& out_dir, std::vector<JobState>& states, const JobKind& kind);

}  // namespace peer
