// Stand-ins for the CUDA entry points of the ops (core/ops/*.h, core/gemm.h) in a build without
// the CUDA backend: each names its op. No CUDA tensor can exist in such a build, so these are
// reached only by a call that bypasses a tensor's device.
#include "core/gemm.h"
#include "core/ops/add.h"
#include "core/ops/attention.h"
#include "core/ops/backend.h"
#include "core/ops/embedding.h"
#include "core/ops/linear.h"

namespace peer::cuda {

void gemm(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float, float*,
          int64_t) {
  no_cuda_implementation("[gemm]");
}
void add_column_sums(const float*, int64_t, int64_t, int64_t, float*) { no_cuda_implementation("[add_column_sums]"); }
void broadcast_rows(const Tensor&, Tensor&) { no_cuda_implementation("[linear]"); }
void add(const Tensor&, const Tensor&, Tensor&) { no_cuda_implementation("[add]"); }
void embedding_forward(const Tensor&, const Tensor&, Tensor&) { no_cuda_implementation("[embedding]"); }
void embedding_backward(const Tensor&, const Tensor&, Tensor&) { no_cuda_implementation("[embedding]"); }
void attention_forward(const Tensor&, int64_t, int64_t, int64_t, Tensor&, Tensor&) {
  no_cuda_implementation("[attention]");
}
void attention_backward(const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t, int64_t, Tensor&, Tensor&) {
  no_cuda_implementation("[attention]");
}

}  // namespace peer::cuda
