// Stand-in for device.cpp when the CUDA backend is not built (nvcc not found, or PEER_CUDA=OFF).
#include "core/cuda/device.h"

namespace peer::cuda {

int device_count() { return 0; }
std::string backend_state() { return "CUDA backend not built"; }

}  // namespace peer::cuda
