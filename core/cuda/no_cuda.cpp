// Stand-in for device.cu when the CUDA backend is not built.
#include "core/cuda/device.h"
#include "core/error.h"

namespace peer::cuda {

bool is_built() { return false; }
int device_count() { return 0; }
bool is_available() { return false; }
std::string device_description() { return ""; }
void require_available() {
  throw InputError("[cuda] this build has no CUDA backend (nvcc was not found or PEER_CUDA=OFF)");
}

}  // namespace peer::cuda
