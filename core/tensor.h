// Tensor: a contiguous float32 array in CPU memory, with a shape. (No GPU memory yet: nothing
// runs on a GPU, see core/cuda/device.h.) Copies share storage (like a handle); clone() copies
// the data.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace peer {

class Tensor {
 public:
  Tensor() = default;
  // Zero-filled tensor of the given shape.
  explicit Tensor(std::vector<int64_t> shape);

  float* data() { return storage_.get(); }
  const float* data() const { return storage_.get(); }
  float& operator[](int64_t i) { return storage_.get()[i]; }
  float operator[](int64_t i) const { return storage_.get()[i]; }

  const std::vector<int64_t>& shape() const { return shape_; }
  int64_t dim(int i) const { return shape_.at(i < 0 ? shape_.size() + i : i); }
  int ndim() const { return static_cast<int>(shape_.size()); }
  int64_t numel() const { return numel_; }
  bool empty() const { return numel_ == 0; }

  // Reallocates only when the element count grows; contents are unspecified after a reshape
  // that changes numel. Used for activation buffers that keep their size between steps.
  void resize(std::vector<int64_t> shape);
  void zero();
  void fill(float v);
  Tensor clone() const;
  // Takes src's shape and values into this tensor's own storage (resize: no allocation once
  // large enough), unlike clone(), which allocates every time.
  void copy_from(const Tensor& src);
  std::string shape_str() const;

 private:
  std::vector<int64_t> shape_;
  int64_t numel_ = 0;
  int64_t capacity_ = 0;
  std::shared_ptr<float[]> storage_;
};

}  // namespace peer
