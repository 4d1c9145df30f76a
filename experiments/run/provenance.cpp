#include "experiments/run/provenance.h"

#include <cstdio>
#include <ctime>
#include <fstream>

namespace peer {

namespace {

// First line of a shell command's stdout ("" when it fails).
std::string command_line(const char* cmd) {
  std::string out;
  if (FILE* p = popen(cmd, "r")) {
    char buf[256];
    if (std::fgets(buf, sizeof buf, p)) out = buf;
    if (pclose(p) != 0) out.clear();
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

std::string cpu_name() {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("model name", 0) == 0 && line.find(':') != std::string::npos) {
      std::string name = line.substr(line.find(':') + 1);
      return name.substr(name.find_first_not_of(' '));
    }
  return "unknown CPU";
}

}  // namespace

Provenance current_provenance(const Config& c) {
  Provenance p;
  // The source tree this binary was built from (the working directory may be anywhere).
  const std::string git = "git -C '" PEER_SOURCE_DIR "' ";
  p.commit = command_line((git + "rev-parse --short HEAD 2>/dev/null").c_str());
  if (p.commit.empty()) p.commit = "unknown";
  // Uncommitted changes to tracked files make the commit alone an incomplete description.
  else if (!command_line((git + "status --porcelain --untracked-files=no 2>/dev/null | head -n 1").c_str()).empty())
    p.commit += "+dirty";
  // Only the CPU computes: a request for CUDA is refused before anything runs (cuda::refuse).
  p.device = "cpu (" + cpu_name() + ")";
  p.threads = c.train.threads;
  char stamp[64];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S %z", std::localtime(&now));
  p.date = stamp;
  return p;
}

}  // namespace peer
