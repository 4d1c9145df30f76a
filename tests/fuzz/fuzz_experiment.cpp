// Fuzz target: the experiment-file parser (experiments/jobs/experiment.h: sweeps and lifelong
// streams, their base config and variants). A base = "file" is looked up in a folder that does
// not exist. Malformed input must end in an InputError; a crash, leak, undefined behaviour or any
// other exception is a bug.
#include <cstdint>
#include <string>

#include "core/error.h"
#include "experiments/jobs/experiment.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    peer::parse_experiment(std::string(reinterpret_cast<const char*>(data), size), "fuzz.toml",
                           "/nonexistent-peer-fuzz");
  } catch (const peer::InputError&) {
  }
  return 0;
}
