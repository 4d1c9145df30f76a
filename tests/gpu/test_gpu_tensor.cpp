// Tensors on the GPU: copies, fills and moves are exact; the caching allocator serves a
// repeated allocation pattern without new cudaMalloc calls.
#include <catch2/catch.hpp>

#include "core/allocator.h"
#include "core/module.h"
#include "core/optim/adamw.h"
#include "core/tensor.h"

using namespace peer;

TEST_CASE("gpu tensor: to(CUDA) and back, clone, copy_from, zero and fill are exact", "[gpu]") {
  Tensor h({3, 5});
  for (int64_t i = 0; i < h.numel(); ++i) h[i] = 0.25f * float(i) - 1.0f;
  Tensor d = h.to(Device::CUDA);
  CHECK(d.device() == Device::CUDA);
  Tensor back = d.clone().to(Device::CPU);
  for (int64_t i = 0; i < h.numel(); ++i) CHECK(back[i] == h[i]);
  Tensor buf({1}, Device::CUDA);
  buf.copy_from(d);
  CHECK(buf.shape() == h.shape());
  back = buf.to(Device::CPU);
  for (int64_t i = 0; i < h.numel(); ++i) CHECK(back[i] == h[i]);
  d.fill(2.5f);
  back = d.to(Device::CPU);
  for (int64_t i = 0; i < h.numel(); ++i) CHECK(back[i] == 2.5f);
  d.zero();
  back = d.to(Device::CPU);
  for (int64_t i = 0; i < h.numel(); ++i) CHECK(back[i] == 0.0f);
  CHECK(Tensor().to(Device::CUDA).empty());  // no storage moves as no storage
  Tensor idx({4}, Device::CPU, DType::I32);
  idx.data_i32()[3] = -7;
  CHECK(idx.to(Device::CUDA).to(Device::CPU).data_i32()[3] == -7);
}

TEST_CASE("gpu tensor: Module::to and AdamW::to move values, gradients and moments", "[gpu]") {
  struct Two : Module {
    Parameter a{"a", {4, 3}, true}, b{"b", {3}, false};
    void collect_parameters(std::vector<Parameter*>& out) override { out = {&a, &b}; }
  } m;
  m.a.value[5] = 1.5f;
  m.a.grad[2] = -2.0f;
  AdamW opt(m.parameters(), AdamWOptions{});
  m.to(Device::CUDA);
  opt.to(Device::CUDA);
  CHECK(m.a.value.device() == Device::CUDA);
  CHECK(m.b.grad.device() == Device::CUDA);
  CHECK(opt.state().at("a").m.device() == Device::CUDA);
  m.to(Device::CPU);
  CHECK(m.a.value[5] == 1.5f);
  CHECK(m.a.grad[2] == -2.0f);
}

TEST_CASE("gpu allocator: a repeated step allocates nothing new after the first", "[gpu]") {
  auto step = [] {
    Tensor a({1000}, Device::CUDA), b({300, 700}, Device::CUDA), c({17}, Device::CUDA, DType::I32);
    a.fill(1.0f);
  };
  step();
  const int64_t after_first = cuda_memory_stats().raw_allocations;
  for (int i = 0; i < 100; ++i) step();
  CHECK(cuda_memory_stats().raw_allocations == after_first);
  CHECK(cuda_memory_stats().in_use == 0);
}
