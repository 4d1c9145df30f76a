// Stand-ins for peer/cuda/*.cu when the CUDA backend is not built: each names what has no CUDA
// implementation in this build (core/ops/cuda/no_cuda.cpp does the same for the ops).
#include "core/ops/backend.h"
#include "peer/experts.h"
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

void merge_pools(const std::vector<Tensor>&, const std::vector<Tensor>&, const std::vector<int64_t>&, int64_t, Tensor&,
                 Tensor&, Tensor&, Tensor&, Tensor&) {
  no_cuda_implementation("[peer.merge_pools]");
}
void experts_forward(const std::vector<PoolTable>&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t,
                     Activation, Tensor&, Tensor&) {
  no_cuda_implementation("[peer.experts_forward]");
}
void experts_backward(const std::vector<PoolTable>&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                      const Tensor&, int64_t, int64_t, Activation, Tensor&, Tensor&, Tensor&, Tensor&) {
  no_cuda_implementation("[peer.experts_backward]");
}
void keys_backward(const std::vector<PoolTable>&, const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t,
                   int64_t, Tensor&) {
  no_cuda_implementation("[peer.keys_backward]");
}
void pool_grads(int32_t, const PoolTable&, const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&,
                const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t, PoolGrads) {
  no_cuda_implementation("[peer.pool_grads]");
}
void count_usage(const Tensor&, Tensor&) { no_cuda_implementation("[peer.count_usage]"); }

}  // namespace peer::cuda
