// How long something took or will take, as people read it: "42s", "3m07s" (progress ETAs, sweep
// messages, report tables).
#pragma once

#include <cstdio>
#include <string>

namespace peer {

inline std::string duration(double seconds) {
  const long s = long(seconds);
  char buf[32];
  if (s < 60) std::snprintf(buf, sizeof buf, "%lds", s);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", s / 60, s % 60);
  return buf;
}

}  // namespace peer
