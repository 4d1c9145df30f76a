#include "core/tensor.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

#include "core/cuda/memory.h"

namespace peer {

size_t dtype_size(DType t) { return t == DType::F64 ? sizeof(double) : sizeof(float); }

namespace {
const char* dtype_name(DType t) { return t == DType::F32 ? "f32" : t == DType::I32 ? "i32" : "f64"; }

int64_t shape_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t s : shape) {
    if (s < 0) throw std::invalid_argument("[tensor] negative dimension");
    n *= s;
  }
  return n;
}
}  // namespace

Tensor::Tensor(std::vector<int64_t> shape, Device device, DType dtype)
    : shape_(std::move(shape)), numel_(shape_numel(shape_)), device_(device), dtype_(dtype) {
  allocate(numel_);
}

// New storage reads as zeros on every device (fresh tensors are zero-filled, and a buffer that
// grows starts from zeros on the CPU and the GPU alike).
void Tensor::allocate(int64_t n) {
  const size_t bytes = size_t(std::max<int64_t>(n, 1)) * dtype_size(dtype_);
  Allocator& a = allocator(device_);
  void* p = a.allocate(bytes);
  if (device_ == Device::CPU) std::memset(p, 0, (bytes + 63) / 64 * 64);  // the padding too: see HostAllocator
  else cuda::zero(p, bytes);
  storage_ = std::shared_ptr<void>(p, [&a, bytes](void* q) { a.release(q, bytes); });
  capacity_ = n;
}

void Tensor::wrong_dtype(DType want) const {
  throw std::logic_error(std::string("[tensor] ") + dtype_name(want) + " access to a " + dtype_name(dtype_) +
                         " tensor " + shape_str());
}

void Tensor::not_host_f32() const {
  throw std::logic_error(std::string("[tensor] host element access to a ") +
                         (device_ == Device::CPU ? "" : "CUDA ") + dtype_name(dtype_) + " tensor " + shape_str());
}

void Tensor::resize(std::vector<int64_t> shape) {
  int64_t n = shape_numel(shape);
  if (!storage_ || n > capacity_) allocate(n);
  shape_ = std::move(shape);
  numel_ = n;
}

void Tensor::resize(std::vector<int64_t> shape, Device d, DType t) {
  if (d != device_ || t != dtype_) {
    storage_.reset();
    device_ = d;
    dtype_ = t;
  }
  resize(std::move(shape));
}

void Tensor::zero() {
  if (device_ == Device::CUDA) return cuda::zero(storage_.get(), nbytes());
  // Large tensors (gradients of big weights, every step) in parallel chunks.
  constexpr int64_t kChunk = int64_t(1) << 16;
  char* base = static_cast<char*>(storage_.get());
  const size_t esize = dtype_size(dtype_);
#pragma omp parallel for schedule(static) if (numel_ > 4 * kChunk)
  for (int64_t i = 0; i < numel_; i += kChunk)
    std::memset(base + size_t(i) * esize, 0, size_t(std::min(kChunk, numel_ - i)) * esize);
}

void Tensor::fill(float v) {
  if (device_ == Device::CUDA) return cuda::fill(data(), numel_, v);
  std::fill(data(), data() + numel_, v);
}

Tensor Tensor::clone() const {
  Tensor t;
  t.copy_from(*this);
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  resize(src.shape(), src.device_, src.dtype_);
  if (!numel_) return;
  if (device_ == Device::CPU) std::memcpy(storage_.get(), src.storage_.get(), nbytes());
  else cuda::copy(storage_.get(), src.storage_.get(), nbytes());  // device to device
}

void Tensor::assign(const int32_t* host, std::vector<int64_t> shape, Device d) {
  resize(std::move(shape), d, DType::I32);
  if (!numel_) return;
  if (d == Device::CPU) std::memcpy(storage_.get(), host, nbytes());
  else cuda::copy(storage_.get(), host, nbytes());
}

double Tensor::item() const {
  if (numel_ < 1) throw std::logic_error("[tensor] item() of an empty tensor");
  const Tensor h = to(Device::CPU);
  if (dtype_ == DType::F64) return h.data_f64()[0];
  if (dtype_ == DType::I32) return h.data_i32()[0];
  return h.data()[0];
}

Tensor Tensor::to(Device d) const {
  if (d == device_) return *this;
  if (!storage_) {  // a default-constructed tensor stays empty (shape {} would mean one element)
    Tensor t;
    t.device_ = d;
    t.dtype_ = dtype_;
    return t;
  }
  Tensor t(shape_, d, dtype_);
  if (numel_) cuda::copy(t.storage_.get(), storage_.get(), nbytes());
  return t;
}

std::string Tensor::shape_str() const {
  std::string s = "[";
  for (size_t i = 0; i < shape_.size(); ++i) s += (i ? ", " : "") + std::to_string(shape_[i]);
  return s + "]";
}

}  // namespace peer
