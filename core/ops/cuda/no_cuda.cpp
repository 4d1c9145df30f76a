// Builds without the CUDA backend: each op's CUDA entry point names the op and says why it cannot
// run (MLX's no_cuda.cpp). Ops append their stubs here.
#include "core/ops/backend.h"
#include "core/ops/cross_entropy.h"
#include "core/ops/dropout.h"

namespace peer::cuda {

void dropout_forward(const Tensor&, Tensor&, Tensor&, const DropoutRule&) { no_cuda_implementation("[dropout]"); }
void dropout_backward(const Tensor&, const Tensor&, Tensor&) { no_cuda_implementation("[dropout_backward]"); }

void cross_entropy(const Tensor&, const Tensor&, Tensor&, Tensor&, Tensor*, float) {
  no_cuda_implementation("[cross_entropy]");
}

}  // namespace peer::cuda
