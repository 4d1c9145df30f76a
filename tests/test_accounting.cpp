// Parameter and FLOP accounting (experiments/run/accounting.h) against hand calculations for a small
// shape, against the parameters build_model() actually creates, and the active-parameter matching
// of the shipped granularity experiments.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "experiments/run/accounting.h"
#include "experiments/run/config.h"
#include "experiments/jobs/experiment.h"
#include "experiments/run/model_factory.h"

using namespace peer;

namespace {

// V = 10 symbols, d = 8, 2 heads, 2 layers, context T = 4, d_ff = 16.
const int64_t kVocab = 10;
const std::string kShape = R"(
[model]
n_embd = 8
n_head = 2
n_layer = 2
block_size = 4
d_ff = 16
)";

Config small(const std::vector<std::string>& sets = {}) { return parse_config(kShape, "small", sets); }

void check_matches_model(const Config& c, const Accounting& a) {
  auto model = build_model(c, kVocab);
  CHECK(a.total_params == count_parameters(*model));
}

}  // namespace

// Shared by every variant below (per block unless said otherwise):
//   embeddings wte 10*8 + wpe 4*8                      = 112
//   ln1, ln2 2*(2*8)                                   = 32
//   attention qkv 8*24 (no bias) + proj 8*8+8          = 192 + 72 = 264
//   ln_f 16 + lm head 8*10+10                          = 106 (once)
//   attention FLOPs forward: qkv 2*8*24 = 384, proj 2*8*8 = 128, scores and weighted sum over
//     (T+1)/2 = 2.5 keys: 2 * (2*8*2.5) = 80          = 592; backward (dX and dW, dQ dK dV) 1184
//   lm head FLOPs 2*8*10                               = 160 forward, 320 backward (once)
TEST_CASE("accounting: dense FFN by hand") {
  Config c = small();
  Accounting a = account(c, kVocab);
  // FFN per block: fc 8*16+16 = 144, out 16*8+8 = 136 -> 280 parameters, 2*(2*8*16) = 512 FLOPs
  // forward, 1024 backward.
  CHECK(a.embedding_params == 112);
  CHECK(a.total_params == 112 + 2 * (32 + 264 + 280) + 106);  // 1370
  CHECK(a.active_params == 2 * (32 + 264 + 280) + 106);       // 1258
  CHECK(a.ffn_active_params == 2 * 280);
  CHECK(a[Part::Attention].fwd == 2 * 592);
  CHECK(a[Part::Attention].bwd == 2 * 1184);
  CHECK(a[Part::Experts].fwd == 2 * 512);
  CHECK(a[Part::Experts].bwd == 2 * 1024);
  for (Part p : {Part::Query, Part::SubKeys, Part::TopK, Part::Router, Part::Dispatch}) {
    CHECK(a[p].fwd == 0);
    CHECK(a[p].bwd == 0);
  }
  CHECK(a[Part::Head].fwd == 160);
  CHECK(a[Part::Head].bwd == 320);
  CHECK(a.forward_flops() == 2368);
  CHECK(a.backward_flops() == 4736);
  CHECK(a.train_flops() == 3 * 2368);  // all GEMMs: backward is exactly 2 x forward
  CHECK(a.granularity == 1.0);         // the dense FFN is one expert
  check_matches_model(c, a);
}

TEST_CASE("accounting: MoE (noisy top-2 of 4, one shared expert, every 2nd block) by hand") {
  Config c = small({"model.ffn=moe", "model.ffn_every=2", "moe.num_experts=4", "moe.top_k=2", "moe.d_expert=4",
                    "moe.router=noisy_topk", "moe.num_shared=1"});
  Accounting a = account(c, kVocab);
  // Block 0 is dense (280 parameters, 512 / 1024 FLOPs). Block 1:
  //   router gate 8*4+4 = 36, noise net 8*4+4 = 36    -> 72 params, 2 * 2*8*4 = 128 FLOPs, bwd 256
  //   one expert 8*4+4 + 4*8+8 = 76 params, 2*(2*8*4) = 128 FLOPs; 4 experts = 304 params
  //   shared expert (hidden 1*4): 76 params, 128 FLOPs
  //   dispatch: combine 2 rows of 8, 2*2*8 = 32; backward 4*2*8 = 64
  //   active: router 72 + 2 experts 152 + shared 76 = 300; FFN active 228
  const int64_t moe_params = 72 + 304 + 76;
  CHECK(a.total_params == 112 + (32 + 264 + 280) + (32 + 264 + moe_params) + 106);  // 1542
  CHECK(a.active_params == (32 + 264 + 280) + (32 + 264 + 300) + 106);             // 1278
  CHECK(a.ffn_active_params == 280 + 228);
  CHECK(a[Part::Experts].fwd == 512 + (2 * 128 + 128));
  CHECK(a[Part::Experts].bwd == 1024 + 2 * (2 * 128 + 128));
  CHECK(a[Part::Router].fwd == 128);
  CHECK(a[Part::Router].bwd == 256);
  CHECK(a[Part::Dispatch].fwd == 32);
  CHECK(a[Part::Dispatch].bwd == 64);
  CHECK(a.forward_flops() == 2 * 592 + 512 + 384 + 128 + 32 + 160);            // 2400
  CHECK(a.backward_flops() == 2 * 1184 + 1024 + 768 + 256 + 64 + 320);         // 4800
  CHECK(a.granularity == 3.0);  // (2 experts + the shared one) x 76 / 76
  check_matches_model(c, a);

  // The plain top-k router has no noise net; without shared experts G = top_k.
  Config t = small({"model.ffn=moe", "moe.num_experts=4", "moe.top_k=2", "moe.d_expert=4", "moe.router=topk"});
  Accounting b = account(t, kVocab);
  CHECK(b[Part::Router].fwd == 2 * (2 * 8 * 4));
  CHECK(b.active_params == 2 * (32 + 264 + 36 + 2 * 76) + 106);
  CHECK(b.granularity == 2.0);
  check_matches_model(t, b);
}

TEST_CASE("accounting: PEER (4x4 experts, 2 heads, top-3, d_key 4) by hand") {
  Config c = small({"model.ffn=peer", "peer.num_experts=16", "peer.heads=2", "peer.top_k=3", "peer.d_key=4"});
  Accounting a = account(c, kVocab);
  // Per block:
  //   query net 8*(2*4) (no bias) = 64, BatchNorm weight+bias 2*8 = 16 (running stats: buffers)
  //   sub-keys (4+4) * 4/2 = 16, U and V 2 * 16*8 = 256      -> 352 params
  //   active: 64 + 16 + 16 (every sub-key is scored) + h*k*2d = 2*3*16 = 96 -> 192; FFN active 96
  //   FLOPs forward / backward:
  //     query 2*8*8 = 128 / 256
  //     sub-scores 2 heads * 2*(4/2)*(4+4) = 64 / per retrieved expert 4*d_key: 2*3*16 = 96
  //     candidate sums per head: pairs (a, b) with a*b <= 3 -> (1,1..3), (2,1), (3,1) = 5, x2 = 10 / 0
  //     experts h*k*4d = 6*32 = 192 / h*k*8d = 384
  CHECK(product_key_candidates(4, 4, 3) == 5);
  CHECK(a.total_params == 112 + 2 * (32 + 264 + 352) + 106);  // 1514
  CHECK(a.active_params == 2 * (32 + 264 + 192) + 106);       // 1082
  CHECK(a.ffn_active_params == 2 * 96);
  CHECK(a[Part::Query].fwd == 2 * 128);
  CHECK(a[Part::Query].bwd == 2 * 256);
  CHECK(a[Part::SubKeys].fwd == 2 * 64);
  CHECK(a[Part::SubKeys].bwd == 2 * 96);
  CHECK(a[Part::TopK].fwd == 2 * 10);
  CHECK(a[Part::TopK].bwd == 0);
  CHECK(a[Part::Experts].fwd == 2 * 192);
  CHECK(a[Part::Experts].bwd == 2 * 384);
  CHECK(a.forward_flops() == 2 * (592 + 394) + 160);    // 2132
  CHECK(a.backward_flops() == 2 * (1184 + 736) + 320);  // 4160
  CHECK(a.granularity == 6.0);  // heads 2 x top-3 single-neuron experts active per token
  check_matches_model(c, a);
}

// The Kaplan rule (backward = 2 x forward) overcounts PEER: the n1 + n2 sub-scores of a head get
// no gradient, only its k retrieved pairs do, and the candidate sums have none.
TEST_CASE("accounting: PEER's backward is less than twice its forward at a large pool") {
  Config c = small({"model.ffn=peer", "peer.num_experts=16384", "peer.heads=8", "peer.top_k=32", "peer.d_key=32"});
  Accounting a = account(c, kVocab);
  CHECK(a[Part::SubKeys].fwd == 2 * 8 * (128 + 128) * 32);  // two blocks
  CHECK(a[Part::SubKeys].bwd == 2 * 4 * 8 * 32 * 32);
  CHECK(a[Part::SubKeys].bwd < a[Part::SubKeys].fwd);
  CHECK(a.train_flops() < 3.0 * a.forward_flops());
}

TEST_CASE("accounting: product-key candidate sums") {
  CHECK(product_key_candidates(128, 128, 1) == 1);
  CHECK(product_key_candidates(128, 128, 4) == 4 + 2 + 1 + 1);
  CHECK(product_key_candidates(2, 128, 4) == 4 + 2);  // only n1 = 2 sorted positions on side 1
  CHECK(product_key_candidates(128, 2, 4) == 2 + 2 + 1 + 1);
}

TEST_CASE("accounting: the model's parameter count for the shipped shapes") {
  for (const char* ffn : {"dense", "moe", "peer"}) {
    Config c = parse_config(kShape, "shape", {std::string("model.ffn=") + ffn, "peer.num_experts=64", "peer.top_k=4",
                                              "peer.d_key=8", "moe.num_shared=2", "model.ffn_every=2"});
    CHECK(account(c, 85).total_params == count_parameters(*build_model(c, 85)));
  }
}

// The shipped granularity experiments hold FFN active parameters per token within 5% of the
// dense variant (granularity-gpu.toml: except peer-paper, the PEER paper's smaller layer).
TEST_CASE("accounting: shipped granularity sweeps match active parameters") {
  for (const char* file : {"granularity.toml", "granularity-quick.toml", "granularity-gpu.toml"}) {
    INFO(file);
    Experiment e = load_experiment(std::string(PEER_SOURCE_DIR) + "/experiments/configs/" + file);
    REQUIRE(e.jobs.front().name == "dense");
    const double dense = double(account(e.jobs.front().config, 85).ffn_active_params);
    bool has_moe = false, has_peer = false;
    for (const Job& v : e.jobs) {
      INFO(v.name);
      has_moe |= v.config.model.ffn == "moe";
      has_peer |= v.config.model.ffn == "peer";
      if (v.name == "peer-paper") continue;
      CHECK(std::fabs(double(account(v.config, 85).ffn_active_params) / dense - 1.0) <= 0.05);
    }
    CHECK(has_moe);
    CHECK(has_peer);
  }
  Experiment gpu = load_experiment(std::string(PEER_SOURCE_DIR) + "/experiments/configs/granularity-gpu.toml");
  CHECK(gpu.base.model.n_embd >= 512);
  CHECK(gpu.budget.kind == Budget::Kind::Flops);
  for (const Job& v : gpu.jobs)
    if (v.name == "peer-paper") {
      CHECK(v.config.peer.num_experts == 1024 * 1024);
      CHECK(v.config.peer.heads == 8);
      CHECK(v.config.peer.top_k == 16);
      CHECK(account(v.config, 85).granularity == 128.0);  // 8 heads x top-16, not d_ff (2048)
    }
}
