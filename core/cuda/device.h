// The CUDA backend as it stands: device queries only, no op runs on a GPU yet. Built from
// device.cpp (against the CUDA runtime) when the backend is compiled, from no_cuda.cpp otherwise.
// A request for CUDA is refused by name, never served on the CPU: results must
// never claim a GPU that did not compute them.
#pragma once

#include <string>

#include "core/error.h"

namespace peer::cuda {

// CUDA devices this process can use: 0 without the backend, a driver or a device.
int device_count();
// What this build and machine offer, for messages: "CUDA backend not built",
// "CUDA backend built, no device found" or "CUDA backend built, 1 device: NVIDIA H200 (sm_90)".
std::string backend_state();

// Refuses a request for CUDA (exit 2), GPU or not, naming the path that has no CUDA
// implementation, e.g. refuse("[train] train.device = \"cuda\"", "the training step").
[[noreturn]] inline void refuse(const std::string& request, const std::string& path) {
  throw InputError(request + ": " + path + " has no CUDA implementation yet (this build: " + backend_state() + ")");
}

}  // namespace peer::cuda
