#include "core/ops/backend.h"

#include <stdexcept>

#include "core/cuda/device.h"

namespace peer {

void no_cuda_implementation(const std::string& op) {
  throw std::runtime_error(op + " has no CUDA implementation (this build: " + cuda::backend_state() + ")");
}

}  // namespace peer
