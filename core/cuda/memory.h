// Raw device memory for tensors on Device::CUDA (the caching allocator sits on top, see
// core/allocator.h). Built from memory.cu with the CUDA backend; without it every function
// throws, naming what was asked for.
#pragma once

#include <cstddef>
#include <cstdint>

namespace peer::cuda {

void* raw_malloc(size_t bytes);
void raw_free(void* p);
// All on the one stream tensors use, so they are ordered with the kernels around them.
void zero(void* p, size_t bytes);
void copy(void* dst, const void* src, size_t bytes);  // any direction: host and device pointers
void fill(float* p, int64_t n, float value);

}  // namespace peer::cuda
