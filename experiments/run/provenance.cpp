#include "experiments/run/provenance.h"

#include <ctime>
#include <fstream>

#include "core/cuda/device.h"
#include "peer_build_commit.h"

namespace peer {

namespace {

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

std::string build_commit() { return PEER_BUILD_COMMIT; }

Provenance current_provenance(const Config& c) {
  Provenance p;
  p.commit = build_commit();
  // The device that computes: run_device (device.h) has refused train.device = "cuda" unless the
  // whole step runs there.
  p.device = c.train.device == "cuda" ? "cuda (" + cuda::backend_state() + ")" : "cpu (" + cpu_name() + ")";
  p.threads = c.train.threads;
  char stamp[64];
  std::time_t now = std::time(nullptr);
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%S %z", std::localtime(&now));
  p.date = stamp;
  return p;
}

}  // namespace peer
