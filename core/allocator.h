// Where tensor memory comes from: one allocator per device.
//   CPU   64-byte aligned host memory (so vector loads never straddle cache lines), freed at once.
//   CUDA  a caching allocator over cudaMalloc: freed blocks are kept by size and handed out again,
//         so a training step that repeats its allocations calls cudaMalloc only in its first
//         steps and cudaFree never (empty_cache() gives the cache back). All device work runs on
//         one stream, so a block freed by the host can be reused at once: later work on that
//         stream is ordered after earlier work that still reads it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <vector>

namespace peer {

enum class Device : uint8_t { CPU, CUDA };

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t bytes) = 0;  // never null: throws on failure
  virtual void release(void* p, size_t bytes) = 0;
};

struct AllocatorStats {
  size_t in_use = 0;       // bytes handed out and not yet released
  size_t peak_in_use = 0;  // the most in_use has been
  size_t cached = 0;       // bytes held in the cache, free for reuse
  int64_t raw_allocations = 0;  // calls to the backend (cudaMalloc) so far
};

// Keeps released blocks in free lists keyed by their rounded size. Device-agnostic: the backend
// does the raw allocation, so the caching rules are tested on the CPU with a host backend.
class CachingAllocator : public Allocator {
 public:
  explicit CachingAllocator(Allocator& backend) : backend_(backend) {}
  ~CachingAllocator() override;
  void* allocate(size_t bytes) override;
  void release(void* p, size_t bytes) override;
  void empty_cache();  // returns every cached block to the backend
  AllocatorStats stats() const;
  // Blocks are rounded up to 512 bytes, and above 1 MiB to 2 MiB, so sizes that differ a little
  // from step to step still share blocks.
  static size_t rounded(size_t bytes);

 private:
  Allocator& backend_;
  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;  // rounded size -> free blocks
  AllocatorStats stats_;
};

// The allocator tensors on `d` use. CUDA without the CUDA backend built throws.
Allocator& allocator(Device d);
// The CUDA caching allocator's counters (zeros until a CUDA tensor exists).
AllocatorStats cuda_memory_stats();

}  // namespace peer
