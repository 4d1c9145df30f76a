// Fuzz target: the config loader (experiments/run/config.h). Input: TOML text, then any number
// of `--set key=value` overrides, each after a NUL byte. Malformed input must end in an
// InputError; a crash, leak, undefined behaviour or any other exception is a bug. A config that
// parses must read back from its own TOML (what a run folder stores) as the same config.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "core/error.h"
#include "experiments/run/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string in(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> parts = {""};
  for (char ch : in) {
    if (ch == '\0') parts.emplace_back();
    else parts.back() += ch;
  }
  peer::Config c;
  try {
    c = peer::parse_config(parts[0], "fuzz.toml", std::vector<std::string>(parts.begin() + 1, parts.end()));
  } catch (const peer::InputError&) {
    return 0;
  }
  const std::string toml = peer::to_toml(c);
  if (peer::to_toml(peer::parse_config(toml, "fuzz round trip")) != toml) std::abort();
  return 0;
}
