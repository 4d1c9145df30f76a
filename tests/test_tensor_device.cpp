// Tensors' element types, devices and allocators (core/tensor.h, core/allocator.h).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <stdexcept>

#include "core/allocator.h"
#include "core/cuda/device.h"
#include "core/tensor.h"

using namespace peer;

namespace {
// A host backend that counts what the caching allocator asks of it.
class CountingBackend : public Allocator {
 public:
  int64_t allocations = 0, releases = 0;
  void* allocate(size_t bytes) override {
    ++allocations;
    return std::malloc(bytes);
  }
  void release(void* p, size_t) override {
    ++releases;
    std::free(p);
  }
};
}  // namespace

TEST_CASE("tensor: i32 tensors are reached only through data_i32", "[tensor]") {
  Tensor t({3, 2}, Device::CPU, DType::I32);
  CHECK(t.dtype() == DType::I32);
  CHECK(t.nbytes() == 6 * sizeof(int32_t));
  for (int64_t i = 0; i < t.numel(); ++i) CHECK(t.data_i32()[i] == 0);  // zero-filled
  t.data_i32()[5] = 7;
  CHECK_THROWS_AS(t.data(), std::logic_error);
#ifndef NDEBUG
  CHECK_THROWS_AS(t[0], std::logic_error);  // [] is checked in debug builds only
#endif
  Tensor c = t.clone();
  CHECK(c.dtype() == DType::I32);
  CHECK(c.data_i32()[5] == 7);
  CHECK_THROWS_AS(Tensor({2}).data_i32(), std::logic_error);
}

TEST_CASE("tensor: to(CPU) of a CPU tensor shares its storage", "[tensor]") {
  Tensor t({4});
  t[1] = 2.0f;
  Tensor u = t.to(Device::CPU);
  u[2] = 3.0f;
  CHECK(t[2] == 3.0f);
  CHECK(u.data() == t.data());
}

TEST_CASE("tensor: copy_from takes the source's dtype and keeps storage when it fits", "[tensor]") {
  Tensor buf({8});
  const float* before = buf.data();
  Tensor src({2, 3});
  src[5] = 4.0f;
  buf.copy_from(src);
  CHECK(buf.data() == before);  // 6 <= 8 elements: no allocation
  CHECK(buf.shape() == src.shape());
  CHECK(buf[5] == 4.0f);
  Tensor idx({3}, Device::CPU, DType::I32);
  idx.data_i32()[2] = 9;
  buf.copy_from(idx);
  CHECK(buf.dtype() == DType::I32);
  CHECK(buf.data_i32()[2] == 9);
}

TEST_CASE("Tensor::copy_from takes shape and values into its own storage", "[tensor]") {
  Tensor src({2, 3}), dst({4, 4});
  for (int64_t i = 0; i < src.numel(); ++i) src[i] = float(i) + 0.5f;
  const float* storage = dst.data();
  dst.copy_from(src);
  CHECK(dst.shape() == src.shape());
  CHECK(dst.data() == storage);  // 6 <= 16 elements: no new allocation
  CHECK(dst.data() != src.data());
  for (int64_t i = 0; i < src.numel(); ++i) CHECK(dst[i] == src[i]);
}

TEST_CASE("tensor: a CUDA tensor without a CUDA device is a clear error", "[tensor]") {
  if (cuda::device_count() > 0) return;  // covered by the gpu-labelled tests
  try {
    Tensor t({4}, Device::CUDA);
    FAIL("a CUDA tensor was created without a device");
  } catch (const std::runtime_error& e) {
    CHECK(std::string(e.what()).find("cuda") != std::string::npos);
  }
}

TEST_CASE("allocator: released blocks are reused by rounded size, the backend is not called again",
          "[tensor]") {
  CountingBackend backend;
  {
    CachingAllocator cache(backend);
    CHECK(CachingAllocator::rounded(1) == 512);
    CHECK(CachingAllocator::rounded(513) == 1024);
    CHECK(CachingAllocator::rounded((size_t(1) << 20) + 1) == size_t(2) << 20);
    // A "step": the same allocations, released in another order.
    for (int step = 0; step < 5; ++step) {
      void* a = cache.allocate(1000);
      void* b = cache.allocate(3 << 20);
      void* c = cache.allocate(1020);  // same rounded size as a: a second block of it
      cache.release(b, 3 << 20);
      cache.release(a, 1000);
      cache.release(c, 1020);
    }
    const AllocatorStats s = cache.stats();
    CHECK(backend.allocations == 3);
    CHECK(s.raw_allocations == 3);
    CHECK(s.in_use == 0);
    CHECK(s.peak_in_use == 1024 + (size_t(4) << 20) + 1024);
    CHECK(s.cached == s.peak_in_use);
    CHECK(backend.releases == 0);
    cache.empty_cache();
    CHECK(backend.releases == 3);
    CHECK(cache.stats().cached == 0);
  }
  CHECK(backend.releases == 3);
}

TEST_CASE("tensor: assign takes host int32 values and reuses its storage; item reads the first element",
          "[tensor]") {
  const int32_t ids[5] = {4, -1, 7, 0, 2};
  Tensor t;
  t.assign(ids, {5}, Device::CPU);
  CHECK(t.dtype() == DType::I32);
  CHECK(t.shape() == std::vector<int64_t>{5});
  for (int i = 0; i < 5; ++i) CHECK(t.data_i32()[i] == ids[i]);
  const int32_t* storage = t.data_i32();
  t.assign(ids + 1, {2, 2}, Device::CPU);  // fewer elements: the same storage
  CHECK(t.data_i32() == storage);
  CHECK(t.data_i32()[3] == 2);
  CHECK(t.item() == -1.0);
  Tensor f({3});
  f[0] = 2.5f;
  CHECK(f.item() == 2.5);
  Tensor d({1}, Device::CPU, DType::F64);
  d.data_f64()[0] = 0.1;
  CHECK(d.item() == 0.1);  // f64 read without a round trip through float
  CHECK_THROWS_AS(Tensor().item(), std::logic_error);
}
