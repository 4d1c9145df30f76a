// The PEER layer on the GPU against the CPU (issue 22 items 2 and 3): retrieval over several pools
// (N from 16 to 2^20, n1 != n2) against the CPU's brute force, the layer's forward and backward
// (output, input gradient, every parameter's gradient, BatchNorm's running statistics, usage
// statistics), the row-sparse gradient's device layout, and the same bits run after run.
// Tolerances |gpu - cpu| <= atol + rtol * |cpu|: both backends run peer_math.h; what differs is
// the order of float sums (cuBLAS sub-scores and queries, warp sums of u . x) and the GPU's
// expf/erff.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "core/rng.h"
#include "peer/experts.h"
#include "peer/peer_layer.h"
#include "peer/product_keys.h"
#include "tests/gradcheck.h"
#include "tests/op_table.h"

using namespace peer;
using gradcheck::fill_normal;
using gradcheck::random_tensor;
using optable::compare_values;

namespace {

std::vector<float> host(const Tensor& t) {
  const Tensor h = t.to(Device::CPU);
  return std::vector<float>(h.data(), h.data() + h.numel());
}
std::vector<int32_t> host_i32(const Tensor& t) {
  const Tensor h = t.to(Device::CPU);
  return std::vector<int32_t>(h.data_i32(), h.data_i32() + h.numel());
}

std::string compare(const std::string& what, const Tensor& gpu, const Tensor& cpu, double atol, double rtol) {
  const std::vector<float> g = host(gpu), c = host(cpu);
  if (g.size() != c.size()) return what + ": " + gpu.shape_str() + " vs " + cpu.shape_str() + "\n";
  return compare_values(what + " " + cpu.shape_str(), g.data(), c.data(), int64_t(c.size()), atol, rtol);
}

// Global top-k over pools on `device`: per-pool product keys, then merge_pools.
struct Merged {
  std::vector<int32_t> global;
  std::vector<float> score, weight;
};
Merged retrieve(const Tensor& q_host, const std::vector<Tensor>& c1, const std::vector<Tensor>& c2, int64_t k,
                Device device, bool brute) {
  const Tensor q = q_host.to(device);
  std::vector<Tensor> on(c1.size() * 2), index(c1.size()), score(c1.size());
  std::vector<int64_t> offset{0};
  for (size_t p = 0; p < c1.size(); ++p) {
    on[2 * p] = c1[p].to(device);
    on[2 * p + 1] = c2[p].to(device);
    const KeyTables keys{on[2 * p].data(), on[2 * p + 1].data(), c1[p].dim(0), c2[p].dim(0), c1[p].dim(1)};
    const int64_t kp = std::min(k, keys.size());
    if (!brute) {
      product_key_topk(q, keys, kp, index[p], score[p]);
    } else if (device == Device::CUDA) {
      cuda::brute_force_topk(q, keys, kp, index[p], score[p]);
    } else {
      index[p] = Tensor({q.dim(0), kp}, Device::CPU, DType::I32);
      score[p] = Tensor({q.dim(0), kp});
      brute_force_topk(q.data(), q.dim(0), q.dim(1), keys, kp, index[p].data_i32(), score[p].data());
    }
    offset.push_back(offset.back() + keys.size());
  }
  Tensor pool, local, global, s, w;
  merge_pools(index, score, offset, k, pool, local, global, s, w);
  return {host_i32(global), host(s), host(w)};
}

struct LayerSetup {
  int64_t d, heads, k, d_key, T;
  std::vector<PoolShape> pools;
  Activation act;
  bool batchnorm;
  float dropout;
};

std::unique_ptr<PeerLayer> make_layer(const LayerSetup& s, uint64_t seed) {
  PeerOptions o;
  o.heads = s.heads;
  o.top_k = s.k;
  o.d_key = s.d_key;
  o.activation = s.act;
  o.query_batchnorm = s.batchnorm;
  o.dropout = s.dropout;
  auto L = std::make_unique<PeerLayer>("peer", s.d, o, s.pools[0], InitScheme::Kaiming, seed, kStreamLayer);
  for (size_t p = 1; p < s.pools.size(); ++p) L->add_pool(s.pools[p]);
  if (s.batchnorm) {
    fill_normal(L->query_bn->weight.value, seed, 201, 0.3f, 1.0f);
    fill_normal(L->query_bn->bias.value, seed, 202, 0.2f);
  }
  return L;
}

}  // namespace

TEST_CASE("gpu peer retrieval over several pools equals the CPU's brute force away from near-ties", "[gpu]") {
  struct Case {
    std::vector<std::pair<int64_t, int64_t>> pools;
    int64_t Q, k;
  };
  // N from 16 to 2^20 in one pool; n1 != n2; three pools of different shapes (global top-k).
  const std::vector<Case> cases = {{{{4, 4}}, 300, 4},          {{{16, 64}}, 300, 16},
                                   {{{1024, 1024}}, 200, 16},   {{{64, 16}, {4, 4}, {32, 48}}, 300, 16},
                                   {{{256, 512}, {16, 16}}, 200, 32}, {{{1024, 1024}, {8, 8}}, 100, 8}};
  const int64_t d_key = 64, half = d_key / 2;
  for (size_t ci = 0; ci < cases.size(); ++ci) {
    const Case& c = cases[ci];
    std::vector<Tensor> c1, c2;
    for (size_t p = 0; p < c.pools.size(); ++p) {
      c1.push_back(random_tensor({c.pools[p].first, half}, 300 + ci, 2 * p, 1.0f / std::sqrt(float(half))));
      c2.push_back(random_tensor({c.pools[p].second, half}, 300 + ci, 2 * p + 1, 1.0f / std::sqrt(float(half))));
    }
    const Tensor q = random_tensor({c.Q, d_key}, 300 + ci, 99);
    const Merged gpu = retrieve(q, c1, c2, c.k, Device::CUDA, false);
    const Merged gpu_bf = retrieve(q, c1, c2, c.k, Device::CUDA, true);
    // The CPU brute force with one more place shows each row's gap below the k-th score.
    const Merged cpu = retrieve(q, c1, c2, c.k + 1, Device::CPU, true);
    const int64_t k = c.k, k1 = c.k + 1;
    int64_t clear = 0, bad = 0, bad_bf = 0;
    for (int64_t r = 0; r < c.Q; ++r) {
      for (int64_t j = 0; j < k; ++j) bad_bf += gpu.global[r * k + j] != gpu_bf.global[r * k + j];
      bool near_tie = false;
      for (int64_t j = 0; j < k; ++j)
        near_tie |= cpu.score[r * k1 + j] - cpu.score[r * k1 + j + 1] <=
                    1e-4f * (1.0f + std::fabs(cpu.score[r * k1 + j]));
      if (near_tie) continue;
      ++clear;
      for (int64_t j = 0; j < k; ++j) bad += gpu.global[r * k + j] != cpu.global[r * k1 + j];
    }
    INFO("case " << ci << ": " << c.pools.size() << " pools, Q " << c.Q << ", k " << k);
    CHECK(bad_bf == 0);  // the GPU's product keys are its own brute force, exactly
    CHECK(bad == 0);
    CHECK(clear * 10 >= c.Q * 8);  // near-ties are rare in random data
  }
}

TEST_CASE("gpu peer layer: forward and backward match the CPU; usage statistics; the same bits twice", "[gpu]") {
  const std::vector<LayerSetup> setups = {
      {32, 4, 8, 32, 40, {{16, 24}}, Activation::GELU, true, 0.0f},
      {32, 4, 8, 32, 40, {{16, 24}}, Activation::ReLU, true, 0.2f},
      {48, 2, 16, 16, 33, {{32, 16}, {5, 7}, {8, 8}}, Activation::GELU, false, 0.0f},
      {256, 8, 16, 128, 64, {{128, 128}}, Activation::GELU, true, 0.0f},
  };
  for (size_t si = 0; si < setups.size(); ++si) {
    const LayerSetup& s = setups[si];
    INFO("setup " << si << ": d " << s.d << ", heads " << s.heads << ", k " << s.k << ", " << s.pools.size()
                  << " pools");
    const auto cpu_layer = make_layer(s, 11 + si), gpu_layer = make_layer(s, 11 + si),
               again_layer = make_layer(s, 11 + si);
    PeerLayer &cpu = *cpu_layer, &gpu = *gpu_layer, &again = *again_layer;
    gpu.to(Device::CUDA);
    again.to(Device::CUDA);
    const Tensor x = random_tensor({s.T, s.d}, 21 + si, 1), w = random_tensor({s.T, s.d}, 21 + si, 2);
    const Tensor xg = x.to(Device::CUDA), wg = w.to(Device::CUDA);
    const Tensor& y_cpu = cpu.forward(x, true, 3);
    const Tensor& y_gpu = gpu.forward(xg, true, 3);
    const Tensor& y_again = again.forward(xg, true, 3);
    // Random inputs keep the k-th and (k+1)-th scores apart: the same experts on both devices.
    CHECK(gpu.retrieved() == cpu.retrieved());
    std::string report = compare("y", y_gpu, y_cpu, 1e-5, 1e-3);
    const std::vector<float> y1 = host(y_gpu), y2 = host(y_again);
    if (std::memcmp(y1.data(), y2.data(), y1.size() * sizeof(float)) != 0) report += "y differs between two GPU runs\n";
    report += compare_values("scores", gpu.scores().data(), cpu.scores().data(), int64_t(cpu.scores().size()), 1e-5,
                             1e-4);
    report += compare("dx", gpu.backward(wg), cpu.backward(w), 1e-5, 1e-3);
    again.backward(wg);
    const std::vector<Parameter*> pc = cpu.parameters(), pg = gpu.parameters(), pa = again.parameters();
    for (size_t i = 0; i < pc.size(); ++i) {
      const Parameter &c = *pc[i], &g = *pg[i];
      if (c.buffer) {  // BatchNorm's running statistics
        report += compare(c.name, g.value, c.value, 1e-6, 1e-4);
        continue;
      }
      const optable::Operand oc = optable::param(*pc[i]), og = optable::param(*pg[i]), oa = optable::param(*pa[i]);
      report += compare_values(c.name + " gradient", og.grad.data(), oc.grad.data(), int64_t(oc.grad.size()), 1e-5,
                               1e-3);
      if (std::memcmp(og.grad.data(), oa.grad.data(), og.grad.size() * sizeof(float)) != 0)
        report += c.name + ": the gradient differs between two GPU runs\n";
      if (g.sparse) {  // the device layout: sorted unique rows, then padding
        CHECK(!g.sparse_grad.index.empty());
        CHECK(g.sparse_grad.host_rows() == c.sparse_grad.rows);
      }
    }
    // Usage statistics from eval forwards: counts on the device, read once by stats().
    cpu.forward(x, false, 0);
    gpu.forward(xg, false, 0);
    Stats sc, sg;
    cpu.stats(sc);
    gpu.stats(sg);
    REQUIRE(sc.size() == sg.size());
    for (size_t i = 0; i < sc.size(); ++i) CHECK(sc[i].second == sg[i].second);
    CHECK(report == "");
  }
}
