// Stand-ins for moe/cuda/*.cu when the CUDA backend is not built: each names what has no CUDA
// implementation in this build (core/ops/cuda/no_cuda.cpp does the same for the ops).
#include "core/ops/backend.h"
#include "moe/sparse_moe.h"

namespace peer::cuda {

void router_forward(const RouterOptions&, uint64_t, uint64_t, uint64_t, bool, RouterState&, Routing&) {
  no_cuda_implementation("[moe.router forward]");
}
void router_backward(const RouterOptions&, const Tensor&, const RouterState&, const Routing&, Tensor&, Tensor&) {
  no_cuda_implementation("[moe.router backward]");
}
void plan_dispatch(const Routing&, int64_t, int64_t, DispatchPlan&) { no_cuda_implementation("[moe.plan_dispatch]"); }
void dispatch_rows(const Tensor&, const DispatchPlan&, Tensor&) { no_cuda_implementation("[moe.dispatch_rows]"); }
void combine_rows(const Tensor&, const Tensor*, const DispatchPlan&, int64_t, Tensor&) {
  no_cuda_implementation("[moe.combine_rows]");
}
void combine_rows_backward(const Tensor&, const Tensor&, const Tensor&, const DispatchPlan&, int64_t, Tensor&,
                           Tensor&) {
  no_cuda_implementation("[moe.combine_rows_backward]");
}
void grouped_linear(const Tensor&, const DispatchPlan&, const Tensor&, const Tensor&, Tensor&) {
  no_cuda_implementation("[moe.grouped_linear]");
}
void grouped_linear_input_grad(const Tensor&, const DispatchPlan&, const Tensor&, Tensor&) {
  no_cuda_implementation("[moe.grouped_linear_input_grad]");
}
void grouped_linear_weight_grad(const Tensor&, const Tensor&, const DispatchPlan&, Tensor&, Tensor&) {
  no_cuda_implementation("[moe.grouped_linear_weight_grad]");
}
void accumulate_moe_stats(const DispatchPlan&, const Tensor&, const Tensor&, Tensor&) {
  no_cuda_implementation("[moe.stats]");
}

}  // namespace peer::cuda
