// Stand-in for device.cpp when the CUDA backend is not built (nvcc not found, or PEER_CUDA=OFF).
#include "core/cuda/device.h"
#include "core/cuda/memory.h"

#include <stdexcept>
#include <string>

namespace peer::cuda {

int device_count() { return 0; }
std::string backend_state() { return "CUDA backend not built"; }

// Device memory: a CUDA tensor cannot exist in this build.
namespace {
[[noreturn]] void no_backend(const char* what) {
  throw std::runtime_error(std::string("[") + what + "] a CUDA tensor was asked for, but this build has no CUDA "
                           "backend (nvcc was not found or PEER_CUDA=OFF)");
}
}  // namespace

void* raw_malloc(size_t) { no_backend("cuda::raw_malloc"); }
void raw_free(void*) { no_backend("cuda::raw_free"); }
void zero(void*, size_t) { no_backend("cuda::zero"); }
void copy(void*, const void*, size_t) { no_backend("cuda::copy"); }
void fill(float*, int64_t, float) { no_backend("cuda::fill"); }

}  // namespace peer::cuda
