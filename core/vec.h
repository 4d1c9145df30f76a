// Small vector kernels on raw float arrays (Eigen-vectorised: plain loops would not vectorise
// a float reduction without -ffast-math).
#pragma once

#include <Eigen/Core>
#include <cstdint>

namespace peer {

inline float dot(const float* a, const float* b, int64_t n) {
  return Eigen::Map<const Eigen::VectorXf>(a, n).dot(Eigen::Map<const Eigen::VectorXf>(b, n));
}

// y += alpha * x
inline void axpy(float alpha, const float* x, float* y, int64_t n) {
  Eigen::Map<Eigen::VectorXf>(y, n) += alpha * Eigen::Map<const Eigen::VectorXf>(x, n);
}

}  // namespace peer
