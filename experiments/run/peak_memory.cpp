#include "experiments/run/peak_memory.h"

#include <sys/resource.h>

#include <fstream>
#include <string>

namespace peer {

// Peak resident memory is kept per process; so that each run of a sweep reports its own peak,
// Linux's high-water mark is reset when a Trainer starts (clear_refs "5") and read from
// /proc/self/status. Where the reset is refused this is the process's lifetime peak, and
// without /proc, getrusage's.
void reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
}

double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // "VmHWM:  1234 kB"
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return double(u.ru_maxrss) / 1024.0;
}

}  // namespace peer
