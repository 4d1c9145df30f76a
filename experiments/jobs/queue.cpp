#include "experiments/jobs/queue.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "absl/strings/str_join.h"
#include "core/error.h"
#include "core/io/atomic_file.h"
#include "experiments/jobs/claim.h"
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

Shard parse_shard(const std::string& text) {
  const std::string what = "--shard '" + text + "'";
  const size_t slash = text.find('/');
  auto whole = [](const std::string& s) {
    return !s.empty() && s.size() <= 9 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
  };
  if (slash == std::string::npos || !whole(text.substr(0, slash)) || !whole(text.substr(slash + 1)))
    throw InputError(what + ": expected I/N with whole numbers, e.g. --shard 1/4");
  Shard s{std::stoll(text.substr(0, slash)), std::stoll(text.substr(slash + 1))};
  if (s.count < 1) throw InputError(what + ": N must be at least 1");
  if (s.index < 1 || s.index > s.count)
    throw InputError(what + ": I must be between 1 and N = " + std::to_string(s.count) + " (shards count from 1)");
  return s;
}

std::string job_dir(const std::string& out_dir, const std::string& noun, const std::string& name) {
  return (fs::path(out_dir) / (noun + "s") / name).string();
}

int run_jobs(const Experiment& e, const std::string& out_dir, std::vector<JobState>& states, const JobKind& k,
             const Shard& shard) {
  fs::create_directories(out_dir);
  write_file_atomic((fs::path(out_dir) / "experiment.toml").string(), read_file(e.path));
  std::cerr << k.intro;
  const size_t n = states.size();
  std::vector<std::string> failed, busy;
  for (size_t i = 0; i < n; ++i) {
    if (!shard.has(i)) continue;
    const std::string& name = k.names[i];
    const std::string& dir = k.dirs[i];
    auto skip_settled = [&] {
      if (states[i] == JobState::Failed) {
        std::fprintf(stderr, "[run] %s '%s' failed earlier (%s); skipped. Change its config, or delete %s to retry\n",
                     k.noun.c_str(), name.c_str(), k.failure ? k.failure(i).c_str() : "", dir.c_str());
        failed.push_back(name);
      } else if (states[i] == JobState::Done) {
        std::fprintf(stderr, "[run] %s %zu/%zu '%s': done%s, skipped\n", k.noun.c_str(), i + 1, n, name.c_str(),
                     k.done_note ? k.done_note(i).c_str() : "");
      }
      return states[i] == JobState::Failed || states[i] == JobState::Done;
    };
    if (skip_settled()) continue;
    if (interrupt_requested()) break;
    JobClaim claim(dir);
    if (!claim.held()) {
      std::fprintf(stderr, "[run] %s '%s' is being run by %s (%s.claim); skipped\n", k.noun.c_str(), name.c_str(),
                   claim.holder().c_str(), dir.c_str());
      busy.push_back(name);
      continue;
    }
    states[i] = k.reload(i);  // another process may have moved it on since the plan
    if (skip_settled()) continue;
    k.announce(i);
    if (states[i] == JobState::New && fs::exists(dir)) fs::remove_all(dir);
    const int rc = k.run(i);
    if (rc == kExitInterrupted) break;
    states[i] = rc == kExitOk ? JobState::Done : JobState::Failed;
    if (rc != kExitOk) failed.push_back(name);
    k.write_report();
  }
  k.write_report();
  bool settled = true;
  for (size_t i = 0; i < n; ++i)
    settled = settled && (!shard.has(i) || states[i] == JobState::Done || states[i] == JobState::Failed);
  if (interrupt_requested()) {  // also when it came during the last report: its plots are missing
    std::cerr << "[run] interrupted; finished " << k.noun << "s and the running one's checkpoint are kept. Run the "
              << "same command again to continue" << (settled ? " (it redraws the report)" : "") << ".\n";
    return kExitInterrupted;
  }
  if (k.summarize) k.summarize();
  std::cerr << "[run] wrote " << out_dir << "/results.csv, report.md and plots\n";
  if (!busy.empty())
    std::cerr << "[run] still running in other processes: " << absl::StrJoin(busy, ", ") << "; once they finish, "
              << "`peer run EXPERIMENT --out " << out_dir << " --report` rewrites the report with them\n";
  if (shard.count > 1)
    std::cerr << "[run] shard " << shard.describe() << " done; once every shard is, `peer run EXPERIMENT --out "
              << out_dir << " --report` writes the report of them all\n";
  if (!failed.empty()) {
    std::cerr << "[run] failed " << k.noun << "s: " << absl::StrJoin(failed, ", ") << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

}  // namespace peer
