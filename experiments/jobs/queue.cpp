#include "experiments/jobs/queue.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_join.h"
#include "core/io/atomic_file.h"
#include "experiments/run/exit_code.h"
#include "experiments/run/interrupt.h"

namespace fs = std::filesystem;

namespace peer {

const char* state_name(JobState s) {
  switch (s) {
    case JobState::New: return "new";
    case JobState::Resume: return "resume";
    case JobState::Done: return "done";
    case JobState::Failed: return "failed";
  }
  return "?";
}

std::string job_dir(const std::string& out_dir, const std::string& noun, const std::string& name) {
  return (fs::path(out_dir) / (noun + "s") / name).string();
}

int run_jobs(const Experiment& e, const std::string& out_dir, std::vector<JobState>& states, const JobKind& k) {
  fs::create_directories(fs::path(out_dir) / (k.noun + "s"));
  write_file_atomic((fs::path(out_dir) / "experiment.toml").string(), read_file(e.path));
  std::cerr << k.intro;
  const size_t n = e.jobs.size();
  std::vector<std::string> failed;
  for (size_t i = 0; i < n; ++i) {
    const std::string& name = e.jobs[i].name;
    const std::string dir = job_dir(out_dir, k.noun, name);
    if (states[i] == JobState::Failed) {
      std::fprintf(stderr, "[run] %s '%s' failed earlier (%s); skipped. Change its config, or delete %s to retry\n",
                   k.noun.c_str(), name.c_str(), k.failure ? k.failure(i).c_str() : "", dir.c_str());
      failed.push_back(name);
      continue;
    }
    if (states[i] == JobState::Done) {
      std::fprintf(stderr, "[run] %s %zu/%zu '%s': done%s, skipped\n", k.noun.c_str(), i + 1, n, name.c_str(),
                   k.done_note ? k.done_note(i).c_str() : "");
      continue;
    }
    if (interrupt_requested()) break;
    k.announce(i);
    if (states[i] == JobState::New && fs::exists(dir)) fs::remove_all(dir);
    const int rc = k.run(i);
    if (rc == kExitInterrupted) break;
    states[i] = rc == kExitOk ? JobState::Done : JobState::Failed;
    if (rc != kExitOk) failed.push_back(name);
    k.write_report();
  }
  k.write_report();
  const bool settled = std::all_of(states.begin(), states.end(),
                                   [](JobState s) { return s == JobState::Done || s == JobState::Failed; });
  if (interrupt_requested()) {  // also when it came during the last report: its plots are missing
    std::cerr << "[run] interrupted; finished " << k.noun << "s and the running one's checkpoint are kept. Run the "
              << "same command again to continue" << (settled ? " (it redraws the report)" : "") << ".\n";
    return kExitInterrupted;
  }
  if (k.summarize) k.summarize();
  std::cerr << "[run] wrote " << out_dir << "/results.csv, report.md and plots\n";
  if (!failed.empty()) {
    std::cerr << "[run] failed " << k.noun << "s: " << absl::StrJoin(failed, ", ") << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace peer
