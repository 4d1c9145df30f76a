#include "core/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <stdexcept>

namespace peer {

namespace {

int64_t shape_numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (int64_t s : shape) {
    if (s < 0) throw std::invalid_argument("[tensor] negative dimension");
    n *= s;
  }
  return n;
}

// 64-byte aligned so that vector loads of aligned rows never straddle cache lines.
std::shared_ptr<float[]> allocate(int64_t n) {
  size_t bytes = ((std::max<int64_t>(n, 1) * sizeof(float) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes);
  if (!p) throw std::bad_alloc();
  std::memset(p, 0, bytes);
  return std::shared_ptr<float[]>(static_cast<float*>(p), [](float* q) { std::free(q); });
}
}  // namespace

Tensor::Tensor(std::vector<int64_t> shape)
    : shape_(std::move(shape)), numel_(shape_numel(shape_)), capacity_(numel_), storage_(allocate(numel_)) {}

void Tensor::resize(std::vector<int64_t> shape) {
  int64_t n = shape_numel(shape);
  if (!storage_ || n > capacity_) {
    storage_ = allocate(n);
    capacity_ = n;
  }
  shape_ = std::move(shape);
  numel_ = n;
}

void Tensor::zero() {
  // Large tensors (gradients of big weights, every step) in parallel chunks.
  constexpr int64_t kChunk = int64_t(1) << 16;
#pragma omp parallel for schedule(static) if (numel_ > 4 * kChunk)
  for (int64_t i = 0; i < numel_; i += kChunk)
    std::memset(storage_.get() + i, 0, size_t(std::min(kChunk, numel_ - i)) * sizeof(float));
}

void Tensor::fill(float v) { std::fill(storage_.get(), storage_.get() + numel_, v); }

Tensor Tensor::clone() const {
  Tensor t(shape_);
  if (numel_) std::memcpy(t.data(), data(), numel_ * sizeof(float));
  return t;
}

void Tensor::copy_from(const Tensor& src) {
  resize(src.shape());
  if (numel_) std::memcpy(data(), src.data(), numel_ * sizeof(float));
}

std::string Tensor::shape_str() const {
  std::string s = "[";
  for (size_t i = 0; i < shape_.size(); ++i) s += (i ? ", " : "") + std::to_string(shape_[i]);
  return s + "]";
}

}  // namespace peer
