// Where and when a result was produced, so runs made on different days and machines can be
// compared: the source commit, the device, the thread count and the date.
#pragma once

#include <string>

#include "experiments/run/config.h"

namespace peer {

struct Provenance {
  std::string commit;  // build_commit()
  std::string device;  // the device that computed: "cpu (<model name>)" (no path runs on a GPU yet)
  int64_t threads = 0;
  std::string date;    // local time, "2025-01-31 14:05:00 +0100"
};

Provenance current_provenance(const Config& c);

// The commit this binary was built from, baked in at build time: `git rev-parse --short HEAD` of
// the source tree, "+dirty" when tracked files held uncommitted changes, "unknown" outside a git
// checkout. `peer --version` prints it.
std::string build_commit();

}  // namespace peer
