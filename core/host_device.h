// PEER_HD marks per-element and per-row math that the CPU loops and the CUDA kernels share
// ("two backends, one function"): compiled by nvcc it is __host__ __device__, by the
// C++ compiler a plain inline function, so the CPU test suite runs the code the kernels run.
#pragma once

#if defined(__CUDACC__)
#define PEER_HD __host__ __device__ __forceinline__
#else
#define PEER_HD inline
#endif
