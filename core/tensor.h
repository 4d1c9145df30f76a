// Tensor: a contiguous array with a shape, an element type and a device. Memory comes from the
// device's allocator (core/allocator.h). Copies share storage (like a handle); clone() copies
// the data.
//
// data() / data_i32() give the raw pointer on the tensor's own device (a device pointer for a
// CUDA tensor: for kernels, never for host loops) and check the element type. Element access
// with [] is for f32 CPU tensors only; debug builds check that (see host_f32).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/allocator.h"

namespace peer {

// Element types; bf16 would be one more entry here and in dtype_size. F64 is for accumulators
// that must match the CPU's double sums (the cross-entropy loss on the device).
enum class DType : uint8_t { F32, I32, F64 };
size_t dtype_size(DType t);

class Tensor {
 public:
  Tensor() = default;
  // Zero-filled tensor of the given shape.
  explicit Tensor(std::vector<int64_t> shape, Device device = Device::CPU, DType dtype = DType::F32);

  float* data() { return static_cast<float*>(typed(DType::F32)); }
  const float* data() const { return static_cast<const float*>(typed(DType::F32)); }
  int32_t* data_i32() { return static_cast<int32_t*>(typed(DType::I32)); }
  const int32_t* data_i32() const { return static_cast<const int32_t*>(typed(DType::I32)); }
  double* data_f64() { return static_cast<double*>(typed(DType::F64)); }
  const double* data_f64() const { return static_cast<const double*>(typed(DType::F64)); }
  float& operator[](int64_t i) { return host_f32()[i]; }
  float operator[](int64_t i) const { return host_f32()[i]; }

  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_; }
  size_t nbytes() const { return size_t(numel_) * dtype_size(dtype_); }
  Device device() const { return device_; }
  DType dtype() const { return dtype_; }
  bool empty() const { return numel_ == 0; }

  // Reallocates only when the element count grows; contents are unspecified after a reshape
  // that changes numel. Used for activation buffers that keep their size between steps.
  void resize(std::vector<int64_t> shape);
  // The same, on device d with element type t: an op's output buffer follows its inputs'
  // device (storage is dropped and allocated anew when the device or type changes).
  void resize(std::vector<int64_t> shape, Device d, DType t = DType::F32);
  void zero();
  void fill(float v);
  Tensor clone() const;
  // Takes src's shape, values, device and dtype, into this tensor's own storage when device and
  // dtype already match (resize: no allocation once large enough), unlike clone(), which
  // allocates every time.
  void copy_from(const Tensor& src);
  // int32 values from host memory (shape's element count of them) into this tensor as I32 on
  // device d, its storage reused when it fits: how token ids reach a model on either device.
  void assign(const int32_t* host, std::vector<int64_t> shape, Device d);
  // This tensor on device d: itself (shared storage) when it is already there, else a copy.
  Tensor to(Device d) const;
  // The first element as a double, read on the host (on a GPU this waits for the work queued).
  double item() const;
  std::string shape_str() const;

 private:
  void* typed(DType want) const {
    if (dtype_ != want) [[unlikely]]
      wrong_dtype(want);
    return storage_.get();
  }
  // Checked in debug builds only: a branch in every element access changes how GCC vectorises
  // (and contracts into FMAs) the loops that use [], and so the bits of release-build results.
  float* host_f32() const {
#ifndef NDEBUG
    if (device_ != Device::CPU || dtype_ != DType::F32) not_host_f32();
#endif
    return static_cast<float*>(storage_.get());
  }
  [[noreturn]] void wrong_dtype(DType want) const;
  [[noreturn]] void not_host_f32() const;
  void allocate(int64_t n);

  std::vector<int64_t> shape_;
  int64_t numel_ = 0;
  int64_t capacity_ = 0;
  std::shared_ptr<void> storage_;
  Device device_ = Device::CPU;
  DType dtype_ = DType::F32;
};

}  // namespace peer
