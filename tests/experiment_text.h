// Parsing experiment files from strings in tests (origin "exp.toml", base files looked up in ".").
#pragma once

#include <catch2/catch.hpp>
#include <string>

#include "core/error.h"
#include "experiments/jobs/experiment.h"

namespace peer {

inline Experiment parse_text(const std::string& text) { return parse_experiment(text, "exp.toml", "."); }

// The InputError message of parsing `text`; fails the test when it parses.
inline std::string parse_error_of(const std::string& text) {
  try {
    parse_text(text);
  } catch (const InputError& e) {
    return e.what();
  }
  FAIL("expected an InputError for:\n" << text);
  return "";
}

}  // namespace peer
