// The device a run computes on (train.device), checked against this build, this machine and the
// model: a run never claims a device it does not use, and never falls back to another.
#pragma once

#include <string>

#include "core/allocator.h"
#include "experiments/run/config.h"

namespace peer {

// Device::CUDA for train.device = "cuda" when a CUDA device is present and every part of the model
// has a CUDA implementation (today: the dense FFN and MoE slots; the PEER layer does not); else an
// InputError (exit 2) starting with `who` that names what is missing. Device::CPU otherwise.
Device run_device(const Config& c, const std::string& who);

}  // namespace peer
