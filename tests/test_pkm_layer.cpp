// PKM and Memory+ beyond the op table (op_cases_pkm.cpp): a shared value table's gradient is the
// sum of its layers' gradients, a model lists, saves and restores it once, parameter and FLOP
// accounting by hand and against build_model, usage statistics, the configs refused by name, and
// freeze-and-add refused on a model without PEER layers.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/io/safetensors.h"
#include "experiments/jobs/experiment.h"
#include "experiments/run/accounting.h"
#include "experiments/run/checkpoint.h"
#include "experiments/run/model_factory.h"
#include "experiments/run/pools.h"
#include "tests/peer_layer_setup.h"
#include "tests/pkm_setup.h"

using namespace peer;

namespace {

// d 6, 2 heads x top-3 over 8x8 keys of width 8 (qk_norm), value rows of width 5, no BatchNorm.
const MemoryShape kShape = {6, 2, 3, 8, {8, 8}, 5, false, false, true};

std::vector<float> dense_grad(const Parameter& p) {
  const int64_t w = p.value.dim(1);
  std::vector<float> g(p.value.numel(), 0.0f);
  for (size_t r = 0; r < p.sparse_grad.rows.size(); ++r)
    for (int64_t j = 0; j < w; ++j) g[p.sparse_grad.rows[r] * w + j] = p.sparse_grad.values[int64_t(r) * w + j];
  return g;
}

// V = 10 symbols, d = 8, 2 heads, 2 layers, context T = 4 (as test_accounting.cpp).
const std::string kModel = "[model]\nn_embd = 8\nn_head = 2\nn_layer = 2\nblock_size = 4\nd_ff = 16\n";

Config small(const std::vector<std::string>& sets) { return parse_config(kModel, "small", sets); }

void check_refused(const std::vector<std::string>& sets, const std::string& key) {
  INFO(key);
  try {
    small(sets);
    FAIL("accepted");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains(key));
  }
}

}  // namespace

TEST_CASE("memory_plus: a shared value table's gradient is the sum of both layers' gradients", "[pkm]") {
  const Tensor x = gradcheck::random_tensor({7, kShape.d}, 3, 1), w = gradcheck::random_tensor({7, kShape.d}, 3, 2);
  auto a = make_memory_plus(kShape, 11, nullptr, true, "a");
  auto b = make_memory_plus(kShape, 12, a->read.memory, false, "b");
  // The same two layers, each on its own copy of the table (same name and seed: same values).
  auto a2 = make_memory_plus(kShape, 11, nullptr, true, "a");
  auto b2 = make_memory_plus(kShape, 12, std::make_shared<MemoryValues>("a", kShape.keys, kShape.value_dim, 11), true, "b");
  REQUIRE(b2->read.memory->values.value.numel() == a->read.memory->values.value.numel());
  a->zero_grad(), b->zero_grad(), a2->zero_grad(), b2->zero_grad();
  a->backward(b->backward((b->forward(a->forward(x, true, 0), true, 0), w)));
  a2->backward(b2->backward((b2->forward(a2->forward(x, true, 0), true, 0), w)));
  CHECK(a->read.retrieved() == a2->read.retrieved());
  CHECK(b->read.retrieved() == b2->read.retrieved());
  const std::vector<float> shared = dense_grad(a->read.memory->values), ga = dense_grad(a2->read.memory->values),
                           gb = dense_grad(b2->read.memory->values);
  bool both = false;
  for (size_t i = 0; i < shared.size(); ++i) {
    CHECK(shared[i] == Approx(ga[i] + gb[i]).margin(1e-6));
    both |= ga[i] != 0.0f && gb[i] != 0.0f;
  }
  CHECK(both);  // some row read by both layers
  // Only the listing layer reports the table.
  CHECK(a->parameters().size() == b->parameters().size() + 1);
}

TEST_CASE("memory_plus.shared_pool: the model holds, saves and restores the table once", "[pkm]") {
  const Config c = small({"model.ffn=memory_plus", "model.n_layer=3", "pkm.num_keys=16", "pkm.heads=2", "pkm.top_k=3",
                          "pkm.d_key=4", "pkm.value_dim=6", "memory_plus.shared_pool=true"});
  auto model = build_model(c, 10);
  std::set<std::string> names;
  int tables = 0;
  for (const Parameter* p : model->parameters()) {
    CHECK(names.insert(p->name).second);
    tables += p->name.find("values") != std::string::npos;
  }
  CHECK(tables == 1);
  CHECK(names.count("memory.values") == 1);
  CHECK(account(c, 10).total_params == count_parameters(*model));

  const std::string path = (std::filesystem::temp_directory_path() / "peer-test-pkm.safetensors").string();
  save_checkpoint(path, *model, nullptr, c, Tokenizer::from_symbols("abcdefghij"), 0);
  int saved = 0;
  for (const auto& [name, t] : load_safetensors(path).tensors) saved += name.find("values") != std::string::npos;
  CHECK(saved == 1);
  Config other = c;
  other.train.seed = 7;
  auto restored = build_model(other, 10);
  auto* first = dynamic_cast<MemoryPlusLayer*>(restored->blocks[0]->ffn.get());
  auto* last = dynamic_cast<MemoryPlusLayer*>(restored->blocks[2]->ffn.get());
  REQUIRE(first);
  REQUIRE(last);
  REQUIRE(first->read.memory == last->read.memory);  // one table, so restoring it once restores every layer's
  load_checkpoint(path, *restored, nullptr);
  std::vector<Parameter*> want = model->parameters(), got = restored->parameters();
  REQUIRE(want.size() == got.size());
  for (size_t i = 0; i < want.size(); ++i) CHECK(same_bits(want[i]->value, got[i]->value));
  std::filesystem::remove(path);

  // Without sharing every block has its own table.
  auto separate = build_model(small({"model.ffn=memory_plus", "pkm.num_keys=16", "pkm.heads=2", "pkm.top_k=3",
                                     "pkm.d_key=4"}), 10);
  int own = 0;
  for (const Parameter* p : separate->parameters()) own += p->name.find(".ffn.values") != std::string::npos;
  CHECK(own == 2);
}

// Shared with every variant (per block, from test_accounting.cpp): ln1 + ln2 32, attention 264
// parameters and 592 FLOPs; embeddings 112, ln_f + lm head 106 parameters and 160 FLOPs once.
TEST_CASE("accounting: PKM (4x4 keys per head, 2 heads, top-3, d_key 4) by hand", "[pkm]") {
  const Config c = small({"model.ffn=pkm", "pkm.num_keys=16", "pkm.heads=2", "pkm.top_k=3", "pkm.d_key=4"});
  const Accounting a = account(c, 10);
  // Per block: query 8*8 = 64, BatchNorm 2*8 = 16, keys 2 heads * (4+4) * 2 = 32, values 16*8 = 128
  //   -> 240 parameters; active 64 + 16 + 32 + h*k*d = 6*8 = 48 -> 160; FFN active 48.
  //   FLOPs: query 2*8*8 = 128, sub-scores 2 heads * 2*2*(4+4) = 64, candidates 2 * 5 = 10,
  //   values 2 * 6 * 8 = 96.
  CHECK(a.total_params == 112 + 2 * (32 + 264 + 240) + 106);
  CHECK(a.active_params == 2 * (32 + 264 + 160) + 106);
  CHECK(a.ffn_active_params == 2 * 48);
  //   Backward: query dX and dW 256, sub-keys dq, dC1, dC2 of the 6 retrieved pairs 4*6*4 = 96,
  //   candidates none, values v.dy and dV rows 4 * 6 * 8 = 192.
  CHECK(a[Part::Query].fwd == 2 * 128);
  CHECK(a[Part::Query].bwd == 2 * 256);
  CHECK(a[Part::SubKeys].fwd == 2 * 64);
  CHECK(a[Part::SubKeys].bwd == 2 * 96);
  CHECK(a[Part::TopK].fwd == 2 * 10);
  CHECK(a[Part::TopK].bwd == 0);
  CHECK(a[Part::Experts].fwd == 2 * 96);
  CHECK(a[Part::Experts].bwd == 2 * 192);
  CHECK(a.forward_flops() == 2 * 592 + 2 * 202 + 2 * 96 + 160);
  CHECK(a.granularity == 6.0);  // one value row is one expert: heads x top-k
  CHECK(a.total_params == count_parameters(*build_model(c, 10)));
}

TEST_CASE("accounting: Memory+ with a shared table by hand", "[pkm]") {
  const Config c = small({"model.ffn=memory_plus", "pkm.num_keys=16", "pkm.heads=2", "pkm.top_k=3", "pkm.d_key=4",
                          "pkm.value_dim=4", "pkm.query_batchnorm=false", "pkm.shared_keys=true",
                          "memory_plus.shared_pool=true"});
  const Accounting a = account(c, 10);
  // Per block: query 64, query LayerNorm 2*2 = 4, one key set (4+4) * 2 = 16 -> 84 routing;
  //   W1 8*4+4 = 36, W2 4*8+8 = 40; the table 16*4 = 64 once. Active: 84 + h*k*4 = 24 + 76 = 184.
  //   FLOPs: routing 128 + 64 + 10 = 202; FFN 2*24 + 2*8*4 + 2*4*8 = 176.
  CHECK(a.total_params == 112 + 2 * (32 + 264) + (84 + 64 + 76) + (84 + 76) + 106);
  CHECK(a.active_params == 2 * (32 + 264 + 184) + 106);
  CHECK(a.ffn_active_params == 2 * (24 + 76));
  //   Backward of the FFN part: values 4 * 24 = 96, W1 and W2 as Linears 2 * 64 each -> 352.
  CHECK(a[Part::Query].fwd + a[Part::SubKeys].fwd + a[Part::TopK].fwd == 2 * 202);
  CHECK(a[Part::Experts].fwd == 2 * 176);
  CHECK(a[Part::Experts].bwd == 2 * 352);
  CHECK(a.granularity == 6.0);
  CHECK(a.total_params == count_parameters(*build_model(c, 10)));
  // ffn_every = 2 and separate tables.
  const Config every = small({"model.ffn=memory_plus", "model.ffn_every=2", "pkm.num_keys=16", "pkm.top_k=3",
                              "pkm.d_key=4"});
  CHECK(account(every, 10).total_params == count_parameters(*build_model(every, 10)));
}

TEST_CASE("pkm: eval forwards report the memory rows used and KL to uniform", "[pkm]") {
  MemoryShape s = kShape;
  s.value_dim = s.d;
  auto L = make_pkm(s, 5, "pkm");
  const Tensor x = gradcheck::random_tensor({20, s.d}, 5, 1);
  Stats none;
  L->forward(x, true, 0);
  L->stats(none);
  CHECK(none.empty());  // training forwards are not counted
  L->forward(x, false, 0);
  std::set<int32_t> used(L->read.retrieved().begin(), L->read.retrieved().end());
  Stats st;
  L->stats(st);
  REQUIRE(st.size() == 2);
  CHECK(st[0].first == "pkm.usage_frac");
  CHECK(st[0].second[0] == Approx(double(used.size()) / 64.0));
  CHECK(st[1].first == "pkm.usage_kl");
  CHECK(st[1].second[0] > 0.0);
  L->reset_stats();
  Stats cleared;
  L->stats(cleared);
  CHECK(cleared.empty());
}

TEST_CASE("bad PKM and Memory+ configs are refused naming the key", "[pkm][config]") {
  check_refused({"model.ffn=pkm", "memory_plus.shared_pool=true"}, "memory_plus.shared_pool");
  check_refused({"model.ffn=dense", "memory_plus.qk_norm=false"}, "memory_plus.qk_norm");
  check_refused({"pkm.num_keys=1000"}, "pkm.num_keys");  // not a square
  check_refused({"pkm.num_keys=1000", "pkm.n1=10", "pkm.n2=10"}, "pkm.num_keys");
  check_refused({"pkm.n1=10"}, "pkm.n1");
  check_refused({"pkm.top_k=129"}, "pkm.top_k");  // n = 128
  check_refused({"pkm.d_key=63"}, "pkm.d_key");
  check_refused({"pkm.heads=0"}, "pkm.heads");
  check_refused({"model.ffn=pkm", "pkm.value_dim=16"}, "pkm.value_dim");  // must be n_embd = 8
  check_refused({"model.ffn=memory_plus", "pkm.d_key=2"}, "pkm.d_key");   // qk_norm needs halves of >= 2
  CHECK_NOTHROW(small({"model.ffn=memory_plus", "pkm.value_dim=16", "memory_plus.shared_pool=true"}));
  CHECK_NOTHROW(small({"model.ffn=memory_plus", "pkm.d_key=2", "memory_plus.qk_norm=false"}));
  CHECK_NOTHROW(small({"model.ffn=pkm", "pkm.value_dim=8", "pkm.num_keys=1000", "pkm.n1=40", "pkm.n2=25", "pkm.top_k=16"}));
}

TEST_CASE("freeze-and-add is refused on a model whose expert blocks are PKM or Memory+", "[pkm][pools]") {
  for (const char* ffn : {"pkm", "memory_plus"}) {
    const Config c = small({std::string("model.ffn=") + ffn, "pkm.num_keys=16", "pkm.top_k=3", "pkm.d_key=4"});
    auto model = build_model(c, 10);
    AdamW opt(model->parameters(), {});
    GrowOptions g;
    g.shape = {2, 2};
    CHECK_THROWS_AS(grow_pools_keep_optimizer(*model, g, opt, {}, "run"), InputError);
  }
}

// The shipped granularity sweeps hold PKM and Memory+ variants (test_accounting.cpp checks that
// every variant matches the dense FFN's active parameters within 5%).
TEST_CASE("granularity sweeps: PKM and Memory+ variants beside dense, MoE and PEER", "[pkm]") {
  for (const char* file : {"granularity.toml", "granularity-gpu.toml"}) {
    INFO(file);
    Experiment e = load_experiment(std::string(PEER_SOURCE_DIR) + "/experiments/configs/" + file);
    std::set<std::string> kinds;
    for (const Job& v : e.jobs) {
      kinds.insert(v.config.model.ffn);
      if (v.config.model.ffn == "pkm" || v.config.model.ffn == "memory_plus")
        CHECK(account(v.config, 85).granularity == double(v.config.pkm.heads * v.config.pkm.top_k));
    }
    CHECK(kinds == std::set<std::string>{"dense", "moe", "peer", "pkm", "memory_plus"});
  }
}
