// How an op picks its backend. The device of an op's inputs decides; a CUDA input to an op or
// layer that has no CUDA implementation is an error naming it (never a host loop over device
// memory, never a silent copy to the CPU).
#pragma once

#include <string>

#include "core/tensor.h"

namespace peer {

// Throws std::runtime_error "[op] has no CUDA implementation (this build: ...)".
[[noreturn]] void no_cuda_implementation(const std::string& op);
// For code that runs on the CPU only: throws as above when t lives on a CUDA device.
inline void require_cpu(const Tensor& t, const char* op) {
  if (t.device() != Device::CPU) no_cuda_implementation(op);
}

}  // namespace peer
