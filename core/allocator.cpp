#include "core/allocator.h"

#include <algorithm>
#include <cstdlib>
#include <new>

#include "core/cuda/memory.h"

namespace peer {

namespace {

class HostAllocator : public Allocator {
 public:
  void* allocate(size_t bytes) override {
    void* p = std::aligned_alloc(64, (std::max<size_t>(bytes, 1) + 63) / 64 * 64);
    if (!p) throw std::bad_alloc();
    return p;
  }
  void release(void* p, size_t) override { std::free(p); }
};

class CudaRawAllocator : public Allocator {
 public:
  void* allocate(size_t bytes) override { return cuda::raw_malloc(bytes); }
  void release(void* p, size_t) override { cuda::raw_free(p); }
};

CachingAllocator& cuda_allocator() {
  static CudaRawAllocator raw;
  // Never destroyed: tensors in static storage may release blocks after main returns, when the
  // CUDA context may already be gone.
  static CachingAllocator* cache = new CachingAllocator(raw);
  return *cache;
}

}  // namespace

CachingAllocator::~CachingAllocator() { empty_cache(); }

size_t CachingAllocator::rounded(size_t bytes) {
  constexpr size_t kSmall = 512, kLarge = size_t(2) << 20;
  if (bytes <= (size_t(1) << 20)) return std::max<size_t>(1, (bytes + kSmall - 1) / kSmall) * kSmall;
  return (bytes + kLarge - 1) / kLarge * kLarge;
}

void* CachingAllocator::allocate(size_t bytes) {
  const size_t size = rounded(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  void* p = nullptr;
  auto it = free_.find(size);
  if (it != free_.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    stats_.cached -= size;
  } else {
    p = backend_.allocate(size);
    ++stats_.raw_allocations;
  }
  stats_.in_use += size;
  stats_.peak_in_use = std::max(stats_.peak_in_use, stats_.in_use);
  return p;
}

void CachingAllocator::release(void* p, size_t bytes) {
  const size_t size = rounded(bytes);
  std::lock_guard<std::mutex> lock(mu_);
  free_[size].push_back(p);
  stats_.in_use -= size;
  stats_.cached += size;
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [size, blocks] : free_)
    for (void* p : blocks) backend_.release(p, size);
  free_.clear();
  stats_.cached = 0;
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

Allocator& allocator(Device d) {
  static HostAllocator host;
  if (d == Device::CPU) return host;
  return cuda_allocator();
}

AllocatorStats cuda_memory_stats() { return cuda_allocator().stats(); }

}  // namespace peer
