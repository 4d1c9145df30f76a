#include "experiments/run/device.h"

#include "core/cuda/device.h"
#include "core/error.h"

namespace peer {

Device run_device(const Config& c, const std::string& who) {
  if (c.train.device != "cuda") return Device::CPU;
  const std::string request = who + " train.device = \"cuda\"";
  if (c.model.ffn == "pkm" || c.model.ffn == "memory_plus")
    cuda::refuse(request + " with model.ffn = \"" + c.model.ffn + "\"", "the product-key memory layer");
  if (cuda::device_count() == 0) throw InputError(request + ": no CUDA device (this build: " + cuda::backend_state() + ")");
  return Device::CUDA;
}

}  // namespace peer
