// Stand-ins for peer/cuda/*.cu when the CUDA backend is not built: each names what has no CUDA
// implementation in this build (core/ops/cuda/no_cuda.cpp does the same for the ops).
#include "core/ops/backend.h"
#include "peer/product_keys.h"

namespace peer::cuda {

void product_key_topk(const Tensor&, const KeyTables&, int64_t, Tensor&, Tensor&) {
  no_cuda_implementation("[product_key_topk]");
}
void brute_force_topk(const Tensor&, const KeyTables&, int64_t, Tensor&, Tensor&) {
  no_cuda_implementation("[brute_force_topk]");
}
double device_ms(const std::function<void()>&) { no_cuda_implementation("[device_ms]"); }
double peak_bandwidth() { no_cuda_implementation("[peak_bandwidth]"); }

}  // namespace peer::cuda
