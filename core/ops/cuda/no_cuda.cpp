// Stand-ins for the CUDA implementations of the ops (ops/cuda/*.cu) when the CUDA backend is not
// built: each names its op (MLX's no_cuda.cpp). A CUDA tensor cannot exist in such a build, so
// these are reached only by a call that bypasses the tensors' devices. Ops append their stubs here.
#include "core/gemm.h"
#include "core/ops/activation.h"
#include "core/ops/adamw.h"
#include "core/ops/add.h"
#include "core/ops/attention.h"
#include "core/ops/backend.h"
#include "core/ops/batchnorm.h"
#include "core/ops/cross_entropy.h"
#include "core/ops/dropout.h"
#include "core/ops/embedding.h"
#include "core/ops/grad_norm.h"
#include "core/ops/layernorm.h"
#include "core/ops/linear.h"
#include "core/sparse_rows.h"

namespace peer::cuda {

void activation_forward(Activation, const float*, float*, int64_t) { no_cuda_implementation("[activation_forward]"); }
void activation_backward(Activation, const float*, const float*, float*, int64_t) {
  no_cuda_implementation("[activation_backward]");
}

void layernorm_forward(const float*, const float*, const float*, int64_t, int64_t, float, float*, float*, float*) {
  no_cuda_implementation("[layernorm_forward]");
}
void layernorm_backward(const float*, const float*, const float*, const float*, const float*, int64_t, int64_t, float*,
                        float*, float*) {
  no_cuda_implementation("[layernorm_backward]");
}

void adamw_update(const std::vector<AdamWSpan>&, AdamWStep) { no_cuda_implementation("[adamw_update]"); }
void adamw_update_rows(float*, float*, float*, int64_t, int64_t, const int32_t*, const float*, int64_t, float, bool,
                       AdamWStep) {
  no_cuda_implementation("[adamw_update_rows]");
}

void clip_grad_norm(const std::vector<GradSpan>&, double, float*) { no_cuda_implementation("[clip_grad_norm]"); }

void dropout_forward(const Tensor&, Tensor&, Tensor&, const DropoutRule&) { no_cuda_implementation("[dropout]"); }
void dropout_backward(const Tensor&, const Tensor&, Tensor&) { no_cuda_implementation("[dropout_backward]"); }

void cross_entropy(const Tensor&, const Tensor&, Tensor&, Tensor&, Tensor*, float) {
  no_cuda_implementation("[cross_entropy]");
}

void gemm(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t, const float*, int64_t, float, float*,
          int64_t) {
  no_cuda_implementation("[gemm]");
}
void add_column_sums(const float*, int64_t, int64_t, int64_t, float*) { no_cuda_implementation("[add_column_sums]"); }
void broadcast_rows(const Tensor&, Tensor&) { no_cuda_implementation("[linear]"); }
void add(const Tensor&, const Tensor&, Tensor&) { no_cuda_implementation("[add]"); }
void embedding_forward(const Tensor&, const Tensor&, Tensor&) { no_cuda_implementation("[embedding]"); }
void embedding_backward(const Tensor&, const Tensor&, Tensor&) { no_cuda_implementation("[embedding]"); }
void attention_forward(const Tensor&, int64_t, int64_t, int64_t, const DropoutRule*, Tensor&, Tensor&, Tensor&) {
  no_cuda_implementation("[attention]");
}
void attention_backward(const Tensor&, const Tensor&, const Tensor&, const Tensor&, int64_t, int64_t, int64_t,
                        const DropoutRule*, Tensor&, Tensor&) {
  no_cuda_implementation("[attention]");
}

void batchnorm_forward(const Tensor&, const BatchNormParams&, bool, Tensor&, Tensor&, Tensor&) {
  no_cuda_implementation("[batchnorm_forward]");
}
void batchnorm_backward(const Tensor&, const Tensor&, const Tensor&, const BatchNormParams&, bool, Tensor&) {
  no_cuda_implementation("[batchnorm_backward]");
}

void scatter_rows(const int32_t*, const float*, int64_t, int64_t, const float*, int64_t, int64_t, int64_t,
                  RowSparseGrad&) {
  no_cuda_implementation("[scatter_rows]");
}

}  // namespace peer::cuda
