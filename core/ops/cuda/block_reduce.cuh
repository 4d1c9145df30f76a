// A block-wide sum in a fixed order (each thread's partial, then a tree over thread indices), so a
// reduction gives the same bits run after run: the kernels' replacement for float atomics.
#pragma once

namespace peer::cuda {

constexpr int kReduceThreads = 256;

// The sum of v over the kReduceThreads threads of the block, returned to every thread; every
// thread must call it. scratch: kReduceThreads values of shared memory.
template <class T>
__device__ T block_sum(T v, T* scratch) {
  scratch[threadIdx.x] = v;
  __syncthreads();
  for (int half = kReduceThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) scratch[threadIdx.x] += scratch[threadIdx.x + half];
    __syncthreads();
  }
  const T total = scratch[0];
  __syncthreads();  // scratch is free again when this returns
  return total;
}

}  // namespace peer::cuda
