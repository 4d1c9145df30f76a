#include <cuda_runtime.h>

#include "core/cuda/device.h"
#include "core/error.h"

namespace peer::cuda {

namespace {
__global__ void touch_kernel(int* out) { *out = 1; }
}  // namespace

bool is_built() { return true; }

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no device" error
    return 0;
  }
  return n;
}

bool is_available() { return device_count() > 0; }

std::string device_description() {
  if (!is_available()) return "";
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) return "";
  return std::string(prop.name) + " (sm_" + std::to_string(prop.major) + std::to_string(prop.minor) + ")";
}

void require_available() {
  if (!is_available()) throw InputError("[cuda] --device cuda was asked for, but no CUDA device is present");
  // A trivial launch proves the kernel image matches this GPU's architecture.
  int* d = nullptr;
  cudaMalloc(&d, sizeof(int));
  touch_kernel<<<1, 1>>>(d);
  cudaError_t err = cudaDeviceSynchronize();
  cudaFree(d);
  if (err != cudaSuccess) throw InputError(std::string("[cuda] test kernel failed: ") + cudaGetErrorString(err));
}

}  // namespace peer::cuda
