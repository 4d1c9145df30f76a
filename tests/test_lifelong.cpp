// Lifelong streams (experiment.h kind = "lifelong"): the continual-learning metrics of a loss
// matrix, the order in which methods read the domain windows (sequential lanes, joint shuffle),
// the errors that must stop a stream file before it trains, and the per-method state file.
#include <catch2/catch.hpp>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "experiments/jobs/experiment.h"
#include "tests/experiment_text.h"
#include "experiments/lifelong/record.h"
#include "experiments/lifelong/stream.h"

using namespace peer;

namespace {

// ---- stream_metrics ----

TEST_CASE("lifelong: stream_metrics on a hand-computed 3x3 loss matrix", "[lifelong]") {
  // R[i][j]: loss on domain j after phase i. Domain 1's best earlier loss (1.8, phase 2) is not
  // its first (4.0), so "best earlier" and "first" give different forgetting.
  const std::vector<double> init = {5.0, 4.6, 4.9};
  const std::vector<std::vector<double>> R = {{2.0, 4.0, 4.5},   //
                                              {2.5, 1.8, 4.2},   //
                                              {3.0, 2.4, 1.5}};
  const StreamMetrics m = stream_metrics(init, R);
  // final: mean of the last row.
  CHECK(m.final_loss == Approx((3.0 + 2.4 + 1.5) / 3.0));
  // forgetting: j = 0: 3.0 - min(2.0, 2.5) = 1.0; j = 1: 2.4 - min(4.0, 1.8) = 0.6 -> mean 0.8.
  CHECK(m.forgetting == Approx(0.8));
  // backward transfer: j = 0: R00 - R20 = 2.0 - 3.0; j = 1: R11 - R21 = 1.8 - 2.4 -> mean -0.8.
  CHECK(m.backward_transfer == Approx(-0.8));
  // forward transfer: j = 1: init1 - R01 = 4.6 - 4.0; j = 2: init2 - R12 = 4.9 - 4.2 -> mean 0.65.
  CHECK(m.forward_transfer == Approx(0.65));
}

TEST_CASE("lifelong: stream_metrics when nothing was forgotten", "[lifelong]") {
  // Every loss only falls: forgetting is the (negative) improvement, backward transfer positive.
  const std::vector<std::vector<double>> R = {{3.0, 5.0}, {2.5, 2.0}};
  const StreamMetrics m = stream_metrics({6.0, 6.0}, R);
  CHECK(m.final_loss == Approx(2.25));
  CHECK(m.forgetting == Approx(2.5 - 3.0));
  CHECK(m.backward_transfer == Approx(3.0 - 2.5));
  CHECK(m.forward_transfer == Approx(6.0 - 5.0));
}

TEST_CASE("lifelong: stream_metrics with one phase or none is NaN where undefined", "[lifelong]") {
  const StreamMetrics one = stream_metrics({4.0, 4.0}, {{2.0, 3.0}});
  CHECK(one.final_loss == Approx(2.5));
  CHECK(std::isnan(one.forgetting));
  CHECK(std::isnan(one.backward_transfer));
  CHECK(std::isnan(one.forward_transfer));
  const StreamMetrics none = stream_metrics({4.0}, {});
  CHECK(std::isnan(none.final_loss));
  CHECK(std::isnan(none.forgetting));
  CHECK(std::isnan(none.backward_transfer));
  CHECK(std::isnan(none.forward_transfer));
}

// ---- phase_windows ----

PhasePlan plan(int64_t phases, int64_t S, int64_t B, int64_t T, bool joint, uint64_t seed = 1337) {
  PhasePlan p;
  p.phases = phases;
  p.steps_per_phase = S;
  p.batch = B;
  p.block = T;
  p.joint = joint;
  p.seed = seed;
  return p;
}

using Key = std::pair<int32_t, int64_t>;  // (domain, start)

std::vector<Key> keys(const std::vector<Window>& w) {
  std::vector<Key> k;
  for (const Window& x : w) k.push_back({x.domain, x.start});
  return k;
}

TEST_CASE("lifelong: sequential phase windows are B lanes over the phase's own domain", "[lifelong]") {
  const int64_t P = 3, S = 5, B = 4, T = 8;
  const PhasePlan p = plan(P, S, B, T, false);
  for (int64_t phase = 0; phase < P; ++phase) {
    const std::vector<Window> w = phase_windows(p, phase);
    REQUIRE(int64_t(w.size()) == S * B);
    std::set<int64_t> starts;
    std::vector<int> covered(size_t(S * B * T), 0);
    for (int64_t s = 0; s < S; ++s)
      for (int64_t b = 0; b < B; ++b) {
        const Window& x = w[size_t(s * B + b)];
        CHECK(x.domain == phase);
        // lane layout: row b of step s starts at (b*S + s)*T, so each row walks its text in order
        CHECK(x.start == (b * S + s) * T);
        starts.insert(x.start);
        REQUIRE(x.start >= 0);
        REQUIRE(x.start + T <= S * B * T);
        for (int64_t t = 0; t < T; ++t) covered[size_t(x.start + t)]++;
      }
    CHECK(int64_t(starts.size()) == S * B);  // every start distinct
    // the inputs of the phase's windows cover tokens [0, S*B*T) exactly once (targets reach S*B*T)
    for (size_t i = 0; i < covered.size(); ++i) {
      INFO("token " << i);
      REQUIRE(covered[i] == 1);
    }
  }
}

TEST_CASE("lifelong: joint windows are the sequential windows of all domains, shuffled", "[lifelong]") {
  const int64_t P = 3, S = 5, B = 4, T = 8;
  const PhasePlan seq = plan(P, S, B, T, false, 42), joint = plan(P, S, B, T, true, 42);
  std::multiset<Key> want, got;
  for (int64_t phase = 0; phase < P; ++phase)
    for (const Key& k : keys(phase_windows(seq, phase))) want.insert(k);
  std::vector<std::vector<Key>> phases;
  for (int64_t phase = 0; phase < P; ++phase) {
    phases.push_back(keys(phase_windows(joint, phase)));
    REQUIRE(int64_t(phases.back().size()) == S * B);
    std::set<int32_t> domains;
    for (const Key& k : phases.back()) {
      got.insert(k);
      domains.insert(k.first);
    }
    INFO("joint phase " << phase);
    CHECK(domains.size() > 1);  // each phase mixes domains
  }
  CHECK(got == want);                   // the same tokens, each window once over the stream
  CHECK(std::set<Key>(got.begin(), got.end()).size() == size_t(P * S * B));

  // Not simply the sequential order: the first phase is not all of domain 0, in lane order.
  CHECK(phases[0] != keys(phase_windows(seq, 0)));

  // Deterministic for a seed, different for another.
  for (int64_t phase = 0; phase < P; ++phase) CHECK(keys(phase_windows(joint, phase)) == phases[size_t(phase)]);
  const PhasePlan other = plan(P, S, B, T, true, 43);
  bool differs = false;
  for (int64_t phase = 0; phase < P; ++phase) differs = differs || keys(phase_windows(other, phase)) != phases[size_t(phase)];
  CHECK(differs);
}

TEST_CASE("lifelong: stream_batch reads a window and its next-token targets", "[lifelong]") {
  StreamData d;
  for (int k = 0; k < 2; ++k) {
    DomainText t;
    t.name = std::string("d") + std::to_string(k);
    for (int i = 0; i < 200; ++i) t.train.push_back(1000 * k + i);
    d.domains.push_back(t);
  }
  const PhasePlan p = plan(2, 3, 2, 4, false);
  const std::vector<Window> w = {{0, 0}, {1, 8}, {1, 40}, {0, 4}};
  std::vector<int32_t> x, y;
  stream_batch(d, w, p, 1, x, y);  // step 1: windows 2 and 3
  CHECK(x == std::vector<int32_t>{1040, 1041, 1042, 1043, 4, 5, 6, 7});
  CHECK(y == std::vector<int32_t>{1041, 1042, 1043, 1044, 5, 6, 7, 8});
}

TEST_CASE("lifelong: check_stream_fits refuses domains shorter than a phase reads", "[lifelong]") {
  StreamData d;
  DomainText t;
  t.name = "short";
  t.train.assign(3 * 2 * 4 + 1, 0);  // exactly S*B*T + 1
  t.eval.assign(5, 0);               // exactly T + 1
  d.domains.push_back(t);
  const PhasePlan p = plan(1, 3, 2, 4, false);
  CHECK_NOTHROW(check_stream_fits(d, p, "dense"));
  d.domains[0].train.pop_back();
  CHECK_THROWS_WITH(check_stream_fits(d, p, "dense"), Catch::Contains("domain 'short'") && Catch::Contains("25"));
  d.domains[0].train.push_back(0);
  d.domains[0].eval.pop_back();
  CHECK_THROWS_WITH(check_stream_fits(d, p, "moe"), Catch::Contains("method 'moe'") && Catch::Contains("held-out"));
}

// ---- parse_experiment ----

const std::string kBase = R"(
[base.model]
n_embd = 32
n_head = 2
n_layer = 2
block_size = 16
[base.moe]
num_experts = 4
top_k = 2
d_expert = 32
[base.peer]
num_experts = 64
heads = 2
top_k = 4
d_key = 8
[base.train]
batch_size = 4
)";

const std::string kDomains = R"(
[[domains]]
name = "news"
genres = ["ca", "cb"]
[[domains]]
name = "mine"
files = ["a.txt", "dir"]
)";

// [experiment] table head for a lifelong stream; `extra` lines go inside it.
std::string head(const std::string& extra = "", const std::string& tpp = "tokens_per_phase = 1000\n") {
  return "[experiment]\nkind = \"lifelong\"\n" + tpp + extra;
}


TEST_CASE("lifelong: a valid stream file parses", "[lifelong]") {
  Experiment e = parse_text(head("eval_tokens = 300\npool_size = \"4x6\"\nfreeze_query = true\n") + kBase + kDomains +
                       "[method.moe]\n\"train.batch_size\" = 8\n[method.joint]\n\"model.ffn\" = \"dense\"\n");
  CHECK(e.kind == "lifelong");
  CHECK(e.lifelong.tokens_per_phase == 1000);
  CHECK(e.lifelong.eval_tokens == 300);
  CHECK(e.lifelong.pool.n1 == 4);
  CHECK(e.lifelong.pool.n2 == 6);
  CHECK(e.lifelong.freeze_query);
  CHECK_FALSE(e.lifelong.freeze_non_expert);
  REQUIRE(e.lifelong.domains.size() == 2);
  CHECK(e.lifelong.domains[0].name == "news");
  CHECK(e.lifelong.domains[0].data.source == "brown");
  CHECK(e.lifelong.domains[0].data.genres == std::vector<std::string>{"ca", "cb"});
  CHECK(e.lifelong.domains[1].name == "mine");
  CHECK(e.lifelong.domains[1].data.source == "files");
  CHECK(e.lifelong.domains[1].data.files == std::vector<std::string>{"a.txt", "dir"});
  CHECK(e.lifelong.domains[1].data.genres.empty());
  REQUIRE(e.jobs.size() == 5);  // default: every method, in the documented order
  CHECK(e.jobs[3].name == "peer_freeze_add");
  // joint's FFN was overridden here; the others are fixed by the method.
  CHECK(e.jobs[4].config.model.ffn == "dense");
  // moe reads 8 x 16 = 128 tokens a step: ceil(1000 / 128) = 8 steps per phase
  CHECK(e.jobs[1].config.train.steps == 8);
  CHECK(e.jobs[1].config.train.batch_size == 8);
  CHECK(e.jobs[0].config.train.steps == 16);  // ceil(1000 / 64)
}

TEST_CASE("lifelong: methods in order, each with its FFN and one phase of steps", "[lifelong]") {
  Experiment e = parse_text(head("methods = [\"dense\", \"moe\", \"peer\", \"peer_freeze_add\", \"joint\"]\n") + kBase + kDomains);
  const std::vector<std::pair<std::string, std::string>> want = {
      {"dense", "dense"}, {"moe", "moe"}, {"peer", "peer"}, {"peer_freeze_add", "peer"}, {"joint", "peer"}};
  REQUIRE(e.jobs.size() == want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    INFO(want[i].first);
    CHECK(e.jobs[i].name == want[i].first);
    CHECK(e.jobs[i].config.model.ffn == want[i].second);
    CHECK(e.jobs[i].config.train.steps == 16);  // ceil(1000 / (4 * 16))
    CHECK(e.jobs[i].config.train.tokens == 0);
    CHECK(e.jobs[i].config.model.n_embd == 32);  // from the base
  }
  // the pool freeze-and-add uses defaults to the base's PEER pool (64 = 8 x 8)
  CHECK(e.lifelong.pool.n1 == 8);
  CHECK(e.lifelong.pool.n2 == 8);

  // A subset, in the file's order; exact multiples need no rounding.
  Experiment f = parse_text(head("methods = [\"joint\", \"dense\"]\n", "tokens_per_phase = 128\n") + kBase + kDomains);
  REQUIRE(f.jobs.size() == 2);
  CHECK(f.jobs[0].name == "joint");
  CHECK(f.jobs[1].name == "dense");
  CHECK(f.jobs[0].config.train.steps == 2);
  CHECK(f.jobs[1].config.train.steps == 2);

  // phase_plan: one phase per domain, S from train.steps, joint only for joint
  const PhasePlan pj = phase_plan(f.lifelong, f.jobs[0]), pd = phase_plan(f.lifelong, f.jobs[1]);
  CHECK(pj.joint);
  CHECK_FALSE(pd.joint);
  CHECK(pj.phases == 2);
  CHECK(pj.steps_per_phase == 2);
  CHECK(pj.batch == 4);
  CHECK(pj.block == 16);

  // Without [[domains]]: the four Brown genre groups.
  Experiment g = parse_text(head("methods = [\"dense\"]\n") + kBase);
  REQUIRE(g.lifelong.domains.size() == 4);
  for (const Domain& d : g.lifelong.domains) {
    CHECK(d.data.source == "brown");
    CHECK_FALSE(d.data.genres.empty());
  }
}

TEST_CASE("lifelong: bad stream files name the problem", "[lifelong]") {
  const std::string ok = kBase + kDomains;
  // the domain list
  CHECK_THAT(parse_error_of(head("domains_x = 1\n") + ok), Catch::Contains("unknown [experiment] key 'domains_x'"));
  CHECK_THAT(parse_error_of("domains = []\n" + head() + kBase), Catch::Contains("domain list is empty"));
  CHECK_THAT(parse_error_of(head() + kBase + "[[domains]]\nname = \"a\"\ngenres = [\"ca\"]\n[[domains]]\nname = \"a\"\n"
                                        "files = [\"x.txt\"]\n"),
             Catch::Contains("domain name 'a' appears twice"));
  CHECK_THAT(parse_error_of(head() + kBase + "[[domains]]\nname = \"a\"\ngenres = [\"ca\"]\nfiles = [\"x.txt\"]\n"),
             Catch::Contains("domains[0] 'a'") && Catch::Contains("exactly one of genres"));
  CHECK_THAT(parse_error_of(head() + kBase + "[[domains]]\nname = \"a\"\n"),
             Catch::Contains("domains[0] 'a'") && Catch::Contains("exactly one of genres"));
  CHECK_THAT(parse_error_of(head() + kBase + "[[domains]]\nname = \"a\"\ngenres = [\"ca\", \"zz\"]\n"),
             Catch::Contains("unknown Brown genre 'zz'"));
  CHECK_THAT(parse_error_of(head() + kBase + "[[domains]]\nname = \"a\"\nfiles = []\n"), Catch::Contains("empty"));
  CHECK_THAT(parse_error_of(head() + kBase + "[[domains]]\ngenres = [\"ca\"]\n"), Catch::Contains("needs name"));
  CHECK_THAT(parse_error_of(head() + kBase + "[[domains]]\nname = \"a/b\"\ngenres = [\"ca\"]\n"), Catch::Contains("'a/b'"));
  CHECK_THAT(parse_error_of(head() + kBase + "[[domains]]\nname = \"a\"\ngenres = [\"ca\"]\nweight = 2\n"),
             Catch::Contains("unknown key 'weight'"));

  // tokens_per_phase
  CHECK_THAT(parse_error_of(head("", "tokens_per_phase = 0\n") + ok),
             Catch::Contains("tokens_per_phase = 0") && Catch::Contains("must be > 0"));
  CHECK_THAT(parse_error_of(head("", "tokens_per_phase = -5\n") + ok), Catch::Contains("must be > 0"));
  CHECK_THAT(parse_error_of(head("", "") + ok), Catch::Contains("needs tokens_per_phase"));
  CHECK_THAT(parse_error_of(head("", "tokens_per_phase = 1.5e5\n") + ok),
             Catch::Contains("tokens_per_phase") && Catch::Contains("whole number"));
  CHECK_THAT(parse_error_of(head("eval_tokens = -1\n") + ok), Catch::Contains("eval_tokens"));

  // pool_size: N1xN2 or a perfect square
  CHECK_THAT(parse_error_of(head("pool_size = 1000\n") + ok), Catch::Contains("pool_size '1000'"));
  CHECK_THAT(parse_error_of(head("pool_size = \"1000\"\n") + ok), Catch::Contains("pool_size '1000'"));
  CHECK_THAT(parse_error_of(head("pool_size = \"abc\"\n") + ok), Catch::Contains("pool_size 'abc'"));
  CHECK_THAT(parse_error_of(head("pool_size = \"0x4\"\n") + ok), Catch::Contains("pool_size '0x4'"));
  CHECK_THAT(parse_error_of(head("pool_size = \"8x-8\"\n") + ok), Catch::Contains("pool_size '8x-8'"));
  CHECK_THAT(parse_error_of(head("pool_size = 1.5\n") + ok), Catch::Contains("pool_size"));
  // trailing text is not silently dropped (it was: "64abc" -> 8x8, "8x8x8" -> 8x8, "8.5x8" -> 8x8)
  CHECK_THAT(parse_error_of(head("pool_size = \"64abc\"\n") + ok), Catch::Contains("pool_size '64abc'"));
  CHECK_THAT(parse_error_of(head("pool_size = \"8x8x8\"\n") + ok), Catch::Contains("pool_size '8x8x8'"));
  CHECK_THAT(parse_error_of(head("pool_size = \"8.5x8\"\n") + ok), Catch::Contains("pool_size '8.5x8'"));
  CHECK_THAT(parse_error_of(head("pool_size = \"8x\"\n") + ok), Catch::Contains("pool_size '8x'"));
  CHECK(parse_text(head("pool_size = 36\n") + ok).lifelong.pool.n1 == 6);

  // methods
  CHECK_THAT(parse_error_of(head("methods = [\"dense\", \"lora\"]\n") + ok), Catch::Contains("unknown method 'lora'"));
  CHECK_THAT(parse_error_of(head("methods = [\"peer\", \"dense\", \"peer\"]\n") + ok),
             Catch::Contains("'peer' appears twice"));
  CHECK_THAT(parse_error_of(head("methods = []\n") + ok), Catch::Contains("methods is empty"));
  CHECK_THAT(parse_error_of(head("methods = \"dense\"\n") + ok), Catch::Contains("methods"));

  // [method.NAME] overrides
  CHECK_THAT(parse_error_of(head("methods = [\"dense\"]\n") + ok + "[method.moe]\n\"moe.top_k\" = 1\n"),
             Catch::Contains("[method.moe] names no method"));
  CHECK_THAT(parse_error_of(head() + ok + "[method.peer]\n\"model.ffn\" = \"moe\"\n"),
             Catch::Contains("method 'peer'") && Catch::Contains("model.ffn"));
  CHECK_THAT(parse_error_of(head() + ok + "[method.peer_freeze_add]\n\"model.ffn\" = \"peer\"\n"),
             Catch::Contains("method 'peer_freeze_add'") && Catch::Contains("model.ffn"));
  CHECK_THAT(parse_error_of(head() + ok + "[method.dense]\n\"train.steps\" = 10\n"),
             Catch::Contains("method 'dense'") && Catch::Contains("train.steps"));
  CHECK_THAT(parse_error_of(head() + ok + "[method.moe]\n\"train.tokens\" = 10\n"),
             Catch::Contains("method 'moe'") && Catch::Contains("train.tokens"));
  CHECK_THAT(parse_error_of(head() + ok + "[method.joint]\n\"data.files\" = [\"x.txt\"]\n"),
             Catch::Contains("method 'joint'") && Catch::Contains("data.files"));
  CHECK_THAT(parse_error_of(head() + ok + "[method.joint]\n\"data.val_fraction\" = 0.2\n"),
             Catch::Contains("method 'joint'") && Catch::Contains("data.val_fraction"));
  CHECK_THAT(parse_error_of(head() + ok + "[method.moe]\n\"moe.nope\" = 1\n"),
             Catch::Contains("method 'moe'") && Catch::Contains("moe.nope"));
  CHECK_THAT(parse_error_of(head() + ok + "[method.moe]\n\"moe.top_k\" = 99\n"), Catch::Contains("method 'moe'"));

  // the rest of the file
  CHECK_THAT(parse_error_of(head() + ok + "[variants.a]\n"), Catch::Contains("unknown top-level key 'variants'"));
  CHECK_THAT(parse_error_of(head("freeze_query = 1\n") + ok), Catch::Contains("freeze_query"));
}

TEST_CASE("lifelong: errors are InputErrors naming the file", "[lifelong]") {
  CHECK_THROWS_AS(parse_text("domains = []\n" + head() + kBase), InputError);
  CHECK_THROWS_AS(parse_text(head("pool_size = \"abc\"\n") + kBase + kDomains), InputError);
  CHECK_THAT(parse_error_of(head("", "tokens_per_phase = 0\n") + kBase + kDomains), Catch::StartsWith("exp.toml"));
  CHECK_THAT(parse_error_of(head("methods = [\"x\"]\n") + kBase + kDomains), Catch::StartsWith("exp.toml"));
}

// ---- MethodRecord ----

MethodRecord sample_record() {
  MethodRecord r;
  r.method = "peer_freeze_add";
  r.stream_key = "tokens_per_phase=1000 | a:files:x.txt,";
  r.phases_done = 2;
  r.init_loss = {4.25, 4.5, 4.125};
  r.loss = {{1.5, 3.75, 4.0}, {2.0, 1.25, 3.5}};
  r.params = {1000, 1500};
  r.trainable = {1000, 700};
  r.pools = {1, 2};
  r.pool_share = {{{1.0}, {1.0}, {1.0}}, {{0.25, 0.75}, {0.5, 0.5}, {0.125, 0.875}}};
  r.frozen_crc = {{"blocks.0.ffn.pools.0.U", 4294967295u}, {"blocks.0.ffn.pools.0.V", 0u}};
  r.train_s = 12.5;
  r.tokens_trained = 4096;
  r.finished = false;
  return r;
}

TEST_CASE("lifelong: MethodRecord survives to_json / from_json", "[lifelong]") {
  const MethodRecord a = sample_record();
  const MethodRecord b = MethodRecord::from_json(a.to_json(), "state.json");
  CHECK(b.method == a.method);
  CHECK(b.stream_key == a.stream_key);
  CHECK(b.phases_done == a.phases_done);
  CHECK(b.init_loss == a.init_loss);
  CHECK(b.loss == a.loss);
  CHECK(b.params == a.params);
  CHECK(b.trainable == a.trainable);
  CHECK(b.pools == a.pools);
  CHECK(b.pool_share == a.pool_share);
  CHECK(b.frozen_crc == a.frozen_crc);
  CHECK(b.train_s == a.train_s);
  CHECK(b.tokens_trained == a.tokens_trained);
  CHECK(b.finished == a.finished);
  CHECK(b.to_json() == a.to_json());

  // doubles that are not exact binary fractions come back bit-identical too
  MethodRecord c = a;
  c.loss[1][2] = 0.1 + 0.2;
  c.init_loss[0] = 1.0 / 3.0;
  c.finished = true;
  const MethodRecord d = MethodRecord::from_json(c.to_json(), "state.json");
  CHECK(d.loss[1][2] == c.loss[1][2]);
  CHECK(d.init_loss[0] == c.init_loss[0]);
  CHECK(d.finished);

  // a state file written before frozen_crc existed still reads (with no frozen tensors)
  nlohmann::json old = nlohmann::json::parse(a.to_json());
  old.erase("frozen_crc");
  const MethodRecord g = MethodRecord::from_json(old.dump(), "state.json");
  CHECK(g.frozen_crc.empty());
  CHECK(g.loss == a.loss);

  // a fresh record (nothing measured yet)
  MethodRecord e;
  e.method = "dense";
  const MethodRecord f = MethodRecord::from_json(e.to_json(), "state.json");
  CHECK(f.method == "dense");
  CHECK(f.phases_done == 0);
  CHECK(f.loss.empty());
}

TEST_CASE("lifelong: a corrupted state file is an InputError naming it", "[lifelong]") {
  const std::string good = sample_record().to_json();
  auto error_of_state = [](const std::string& text) -> std::string {
    try {
      MethodRecord::from_json(text, "runs/x/methods/peer/state.json");
    } catch (const InputError& e) {
      return e.what();
    }
    FAIL("expected an InputError for state:\n" << text);
    return "";
  };
#define NAMES_FILE Catch::StartsWith("runs/x/methods/peer/state.json") && Catch::Contains("delete")
  CHECK_THAT(error_of_state(""), NAMES_FILE);
  CHECK_THAT(error_of_state("not json"), NAMES_FILE);
  CHECK_THAT(error_of_state(good.substr(0, good.size() / 2)), NAMES_FILE);  // cut short
  CHECK_THAT(error_of_state("[1, 2, 3]"), NAMES_FILE);
  CHECK_THAT(error_of_state("{\"method\": \"peer\"}"), NAMES_FILE);  // keys missing

  // a wrong type
  MethodRecord r = sample_record();
  std::string bad = r.to_json();
  const std::string from = "\"phases_done\": 2";
  REQUIRE(bad.find(from) != std::string::npos);
  bad.replace(bad.find(from), from.size(), "\"phases_done\": \"two\"");
  CHECK_THAT(error_of_state(bad), NAMES_FILE);

  // loss rows that do not match phases_done
  r.phases_done = 3;
  CHECK_THAT(error_of_state(r.to_json()), NAMES_FILE && Catch::Contains("phases_done"));
#undef NAMES_FILE
}

}  // namespace
