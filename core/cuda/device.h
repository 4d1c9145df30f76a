// CUDA runtime availability. Built from device.cu when the CUDA backend is compiled, from
// no_cuda.cpp otherwise (then is_available() is false and nothing throws at link time).
#pragma once

#include <string>

namespace peer::cuda {

bool is_built();
int device_count();   // 0 when no driver or device is present
bool is_available();  // built and at least one device
std::string device_description();  // e.g. "NVIDIA H100 80GB HBM3 (sm_90)"; "" without a device
// Throws InputError "[cuda] ..." explaining why --device cuda cannot run here.
void require_available();

}  // namespace peer::cuda
