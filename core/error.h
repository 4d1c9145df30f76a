// Error kinds the CLI maps to exit codes: InputError (bad config, arguments, data or checkpoint
// files: exit 2); any other exception is a run-time failure (exit 1).
#pragma once

#include <stdexcept>
#include <string>

namespace peer {

class InputError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace peer
