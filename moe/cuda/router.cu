// The router on the GPU (moe/router.h): the noise draw, then one thread per token running the
// per-token math of moe/router_math.h (the CPU's own functions), then the choice statistics and
// aux losses with fixed-order block sums. No atomics: the same inputs give the same bits.
#include <stdexcept>

#include "core/cuda/check.h"
#include "core/ops/cuda/launch.cuh"
#include "core/ops/philox_math.h"
#include "core/ops/cuda/block_reduce.cuh"
#include "moe/router.h"

namespace peer::cuda {

namespace {

// eps[i] = the Philox normal at offset (step << 32) + i, a Box-Muller block of 4 per thread, as
// the CPU draws them.
__global__ void noise_kernel(uint64_t seed, uint64_t stream, uint64_t step, int64_t n, float* eps) {
  for (int64_t q = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; 4 * q < n; q += int64_t(gridDim.x) * blockDim.x) {
    float z[4];
    philox_normal4(philox_block(seed, stream, ((step << 32) + uint64_t(4 * q)) >> 2), z);
    for (int64_t j = 0; j < 4 && 4 * q + j < n; ++j) eps[4 * q + j] = z[j];
  }
}

__global__ void add_noise_kernel(const float* eps, const float* noise_logits, int64_t n, float* h) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    h[i] += eps[i] * router_softplus(noise_logits[i]);
}

// Thread per token: its softmax, log-sum-exp, top-k and gates.
__global__ void token_forward_kernel(RouterOptions o, int64_t N, const float* z, const float* h, float* p, float* lse,
                                     int32_t* expert, float* gate) {
  const int64_t E = o.num_experts, k = o.top_k;
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < N; t += int64_t(gridDim.x) * blockDim.x) {
    lse[t] = router_softmax(z + t * E, E, p + t * E);
    router_select(o, h + t * E, p + t * E, expert + t * k, gate + t * k);
  }
}

// Block per expert e: f[e] (its share of the N*k choices), importance[e] (sum of its gates) and
// mean_p[e] (mean over tokens of P[t, e]).
__global__ void per_expert_kernel(int64_t E, int64_t N, int64_t k, const int32_t* expert, const float* gate,
                                  const float* P, double* f, double* importance, double* mean_p) {
  __shared__ double scratch[kReduceThreads];
  const int64_t e = blockIdx.x;
  double count = 0.0, g = 0.0, p = 0.0;
  for (int64_t a = threadIdx.x; a < N * k; a += kReduceThreads)
    if (expert[a] == e) count += 1.0, g += gate[a];
  for (int64_t t = threadIdx.x; t < N; t += kReduceThreads) p += P[t * E + e];
  count = block_sum(count, scratch);
  g = block_sum(g, scratch);
  p = block_sum(p, scratch);
  if (threadIdx.x == 0) {
    f[e] = count / double(N * k);
    importance[e] = g;
    mean_p[e] = p / double(N);
  }
}

// One block: the aux losses into aux[0..3) (load balance, importance, z-loss), as
// Router::compute_aux.
__global__ void aux_kernel(RouterOptions o, int64_t N, const double* f, const double* importance,
                           const double* mean_p, const float* lse, double* aux) {
  __shared__ double scratch[kReduceThreads];
  const int64_t E = o.num_experts;
  double z = 0.0;
  for (int64_t t = threadIdx.x; t < N; t += kReduceThreads) z += double(lse[t]) * lse[t];
  z = block_sum(z, scratch);
  if (threadIdx.x != 0) return;
  double lb = 0.0;
  for (int64_t e = 0; e < E; ++e) lb += f[e] * mean_p[e];
  aux[0] = o.load_balance_coef > 0.0f ? lb * (o.load_balance_coef * double(E)) : 0.0;
  double mu, var;
  importance_moments(importance, E, mu, var);
  aux[1] = o.importance_coef > 0.0f ? o.importance_coef * var / (mu * mu) : 0.0;
  aux[2] = o.z_loss_coef > 0.0f ? z * (o.z_loss_coef / double(N)) : 0.0;
}

// Thread per token: router_token_backward, the CPU's function. dp (N, E) scratch.
__global__ void token_backward_kernel(RouterOptions o, int64_t N, const float* dgate, const int32_t* expert,
                                      const float* gate, const float* P, const float* h, const float* lse,
                                      const double* stats, const float* eps, const float* noise_logits, float* dp,
                                      float* dz, float* dnoise) {
  const int64_t E = o.num_experts, k = o.top_k;
  RouterTokenGrad g{};
  g.tokens = N;
  g.f = stats;
  g.importance = stats + E;
  if (o.importance_coef > 0.0f) importance_moments(g.importance, E, g.mu, g.var);
  for (int64_t t = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; t < N; t += int64_t(gridDim.x) * blockDim.x) {
    g.chosen = expert + t * k;
    g.g = gate + t * k;
    g.dgate = dgate + t * k;
    g.p = P + t * E;
    g.h = h + t * E;
    g.lse = lse[t];
    g.eps = eps ? eps + t * E : nullptr;
    g.noise_logits = noise_logits ? noise_logits + t * E : nullptr;
    router_token_backward(o, g, dp + t * E, dz + t * E, dnoise ? dnoise + t * E : nullptr);
  }
}

}  // namespace

void router_forward(const RouterOptions& o, uint64_t seed, uint64_t stream, uint64_t step, bool draw, RouterState& s,
                    Routing& r) {
  const int64_t N = r.tokens, E = o.num_experts, k = o.top_k;
  if (N == 0) return;
  if (s.noisy) {
    if (draw) {
      s.eps.resize({N, E}, Device::CUDA);
      noise_kernel<<<grid_size((N * E + 3) / 4), kThreads>>>(seed, stream, step, N * E, s.eps.data());
      PEER_CUDA_CHECK_LAUNCH();
    }
    add_noise_kernel<<<grid_size(N * E), kThreads>>>(s.eps.data(), s.noise_logits->data(), N * E, s.scores.data());
    PEER_CUDA_CHECK_LAUNCH();
  }
  token_forward_kernel<<<grid_size(N, 128), 128>>>(o, N, s.logits->data(), s.scores.data(), s.probs.data(),
                                                   s.lse.data(), r.expert.data_i32(), r.gate.data());
  PEER_CUDA_CHECK_LAUNCH();
  Tensor mean_p;
  mean_p.resize({E}, Device::CUDA, DType::F64);
  double* f = s.choice_stats.data_f64();
  per_expert_kernel<<<unsigned(E), kReduceThreads>>>(E, N, k, r.expert.data_i32(), r.gate.data(), s.probs.data(), f,
                                                     f + E, mean_p.data_f64());
  PEER_CUDA_CHECK_LAUNCH();
  aux_kernel<<<1, kReduceThreads>>>(o, N, f, f + E, mean_p.data_f64(), s.lse.data(), f + 2 * E);
  PEER_CUDA_CHECK_LAUNCH();
}

void router_backward(const RouterOptions& o, const Tensor& dgate, const RouterState& s, const Routing& r,
                     Tensor& dlogits, Tensor& dnoise) {
  const int64_t N = r.tokens, E = o.num_experts;
  if (N == 0) return;
  Tensor dp;
  dp.resize({N, E}, Device::CUDA);
  token_backward_kernel<<<grid_size(N, 128), 128>>>(
      o, N, dgate.data(), r.expert.data_i32(), r.gate.data(), s.probs.data(), s.scores.data(), s.lse.data(),
      s.choice_stats.data_f64(), s.noisy ? s.eps.data() : nullptr, s.noisy ? s.noise_logits->data() : nullptr,
      dp.data(), dlogits.data(), s.noisy ? dnoise.data() : nullptr);
  PEER_CUDA_CHECK_LAUNCH();
}

}  // namespace peer::cuda
