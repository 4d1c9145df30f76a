// CUDA device queries for the refusal messages (core/cuda/device.h); no device code yet.
#include "core/cuda/device.h"

#include <cuda_runtime.h>

namespace peer::cuda {

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) == cudaSuccess) return n;
  cudaGetLastError();  // clear the sticky "no device" error
  return 0;
}

std::string backend_state() {
  const int n = device_count();
  if (n == 0) return "CUDA backend built, no device found";
  std::string state = "CUDA backend built, " + std::to_string(n) + (n == 1 ? " device" : " devices");
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) == cudaSuccess)
    state += std::string(": ") + prop.name + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ")";
  return state;
}

}  // namespace peer::cuda
