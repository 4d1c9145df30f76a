// Status checks for every CUDA runtime and cuBLAS call, and after every kernel launch: a failure
// throws std::runtime_error naming the call, the file and the line. Device code only (.cu files).
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <stdexcept>
#include <string>

namespace peer::cuda {

[[noreturn]] inline void fail(const char* what, const char* err, const char* file, int line) {
  throw std::runtime_error(std::string("[cuda] ") + what + ": " + err + " (" + file + ":" + std::to_string(line) + ")");
}

}  // namespace peer::cuda

#define PEER_CUDA_CHECK(call)                                                      \
  do {                                                                             \
    const cudaError_t peer_err_ = (call);                                          \
    if (peer_err_ != cudaSuccess)                                                  \
      ::peer::cuda::fail(#call, cudaGetErrorString(peer_err_), __FILE__, __LINE__); \
  } while (0)

#define PEER_CUBLAS_CHECK(call)                                                          \
  do {                                                                                   \
    const cublasStatus_t peer_status_ = (call);                                          \
    if (peer_status_ != CUBLAS_STATUS_SUCCESS)                                           \
      ::peer::cuda::fail(#call, cublasGetStatusString(peer_status_), __FILE__, __LINE__); \
  } while (0)

// After a kernel launch: launch-configuration errors surface here, not at the next sync.
#define PEER_CUDA_CHECK_LAUNCH() PEER_CUDA_CHECK(cudaGetLastError())
