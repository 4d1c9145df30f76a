// Lifelong stream files (experiment.h kind = "lifelong"): a valid file, the methods and their
// settings, and the errors that must stop a stream file before it trains.
#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "experiments/jobs/experiment.h"
#include "experiments/lifelong/stream.h"
#include "tests/experiment_text.h"

using namespace peer;

namespace {

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
  Experiment e = parse_text(head("eval_tokens = 300\npool_size = \"4x6\"\nseeds = [3, 1, 2]\nrewarm = false\n"
                                 "replay_fraction = 0.05\nreplay_tokens = 4096\n") +
                            kBase + kDomains + "[pretrain]\ngenres = [\"cr\"]\ntokens = 5000\n" +
                            "[method.moe]\n\"train.batch_size\" = 8\n[method.joint]\n\"model.ffn\" = \"dense\"\n"
                            "[method.peer]\nadd_pools = true\noracle = true\nrewarm = true\n");
  CHECK(e.kind == "lifelong");
  CHECK(e.lifelong.tokens_per_phase == 1000);
  CHECK(e.lifelong.eval_tokens == 300);
  CHECK(e.lifelong.pool.n1 == 4);
  CHECK(e.lifelong.pool.n2 == 6);
  CHECK(e.lifelong.seeds == std::vector<int64_t>{3, 1, 2});
  CHECK_FALSE(e.lifelong.rewarm);
  CHECK(e.lifelong.replay_fraction == 0.05);
  CHECK(e.lifelong.replay_tokens == 4096);
  CHECK(e.lifelong.pretrain_tokens == 5000);
  CHECK(e.lifelong.pretrain.data.genres == std::vector<std::string>{"cr"});
  REQUIRE(e.lifelong.domains.size() == 2);
  CHECK(e.lifelong.domains[0].name == "news");
  CHECK(e.lifelong.domains[0].data.source == "brown");
  CHECK(e.lifelong.domains[0].data.genres == std::vector<std::string>{"ca", "cb"});
  CHECK(e.lifelong.domains[1].name == "mine");
  CHECK(e.lifelong.domains[1].data.source == "files");
  CHECK(e.lifelong.domains[1].data.files == std::vector<std::string>{"a.txt", "dir"});
  CHECK(e.lifelong.domains[1].data.genres.empty());
  // default: every method, in the documented order (baselines, controls, the ladder, joint)
  REQUIRE(e.jobs.size() == lifelong_methods().size());
  REQUIRE(e.lifelong.methods.size() == e.jobs.size());
  for (size_t i = 0; i < e.jobs.size(); ++i) CHECK(e.jobs[i].name == e.lifelong.methods[i].name);
  CHECK(e.jobs.front().name == "dense");
  CHECK(e.jobs.back().name == "joint");
  // joint's FFN was overridden here; the others are fixed by the method.
  CHECK(e.jobs.back().config.model.ffn == "dense");
  // moe reads 8 x 16 = 128 tokens a step: ceil(1000 / 128) = 8 steps per phase
  CHECK(e.jobs[1].config.train.steps == 8);
  CHECK(e.jobs[1].config.train.batch_size == 8);
  CHECK(e.jobs[0].config.train.steps == 16);  // ceil(1000 / 64)
  // method options: the experiment's rewarm unless the method sets its own
  CHECK_FALSE(e.lifelong.methods[0].rewarm);
  const MethodSpec& peer = e.lifelong.methods[2];
  CHECK(peer.name == "peer");
  CHECK(peer.add_pools);
  CHECK(peer.oracle);
  CHECK(peer.rewarm);
  // peer_big: one pool of 64 + 2 x 24 experts (the base pool, then one per domain after pretraining)
  const Job& big = e.jobs[3];
  REQUIRE(big.name == "peer_big");
  CHECK(big.config.peer.num_experts == 112);
  CHECK(big.config.peer.n1 == 8);
  CHECK(big.config.peer.n2 == 14);
}

TEST_CASE("lifelong: a named copy of a method with its own options", "[lifelong]") {
  const Experiment e = parse_text(head("methods = [\"peer\", \"peer_flat\", \"dense_flat\"]\n") + kBase + kDomains +
                                  "[method.peer_flat]\nlike = \"peer\"\nrewarm = false\n\"train.lr\" = 0.01\n"
                                  "[method.dense_flat]\nlike = \"dense\"\nrewarm = false\n");
  REQUIRE(e.jobs.size() == 3);
  CHECK(e.jobs[1].name == "peer_flat");
  CHECK(e.jobs[1].config.model.ffn == "peer");
  CHECK(e.jobs[1].config.train.lr == 0.01);
  CHECK(e.lifelong.methods[1].name == "peer_flat");
  CHECK(e.lifelong.methods[1].like == "peer");
  CHECK_FALSE(e.lifelong.methods[1].rewarm);
  CHECK(e.lifelong.methods[0].rewarm);
  CHECK(e.jobs[2].config.model.ffn == "dense");
  CHECK_THAT(parse_error_of(head("methods = [\"peer_x\"]\n") + kBase + kDomains), Catch::Contains("unknown method 'peer_x'"));
  CHECK_THAT(parse_error_of(head("methods = [\"peer_x\"]\n") + kBase + kDomains + "[method.peer_x]\nlike = \"lora\"\n"),
             Catch::Contains("method 'peer_x'") && Catch::Contains("like"));
}

TEST_CASE("lifelong: the ladder in order, each rung adding one option", "[lifelong]") {
  const std::vector<std::string> ladder = {"peer_freeze_add", "peer_fa_query", "peer_fa_bn", "peer_fa_only_new",
                                           "peer_fa_key_scale", "peer_fa_oracle"};
  std::vector<const MethodSpec*> rungs;
  for (const std::string& n : ladder) rungs.push_back(&method_spec(n));
  auto count = [](const MethodSpec& m) {
    return int(m.add_pools) + m.freeze_query + m.freeze_bn_stats + m.freeze_non_expert + m.match_key_scale + m.oracle;
  };
  for (size_t i = 0; i < rungs.size(); ++i) {
    INFO(ladder[i]);
    CHECK(count(*rungs[i]) == int(i) + 1);
    if (i > 0) {
      CHECK(rungs[i]->freeze_query >= rungs[i - 1]->freeze_query);
      CHECK(rungs[i]->freeze_bn_stats >= rungs[i - 1]->freeze_bn_stats);
      CHECK(rungs[i]->freeze_non_expert >= rungs[i - 1]->freeze_non_expert);
      CHECK(rungs[i]->match_key_scale >= rungs[i - 1]->match_key_scale);
    }
  }
  CHECK(method_spec("peer_big").big_pool);
  CHECK(method_spec("peer_replay").replay);
  CHECK(method_spec("dense_replay").replay);
  CHECK(method_spec("joint").joint);
  const std::vector<std::string>& names = lifelong_methods();
  CHECK(std::find(names.begin(), names.end(), "peer_fa_oracle") > std::find(names.begin(), names.end(), "peer_fa_bn"));
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
  const PhasePlan pj = phase_plan(f.lifelong, f.lifelong.methods[0], f.jobs[0]),
                  pd = phase_plan(f.lifelong, f.lifelong.methods[1], f.jobs[1]);
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
  CHECK_THAT(parse_error_of(head("freeze_query = 1\n") + ok), Catch::Contains("unknown [experiment] key 'freeze_query'"));

  // seeds, replay, rewarm
  CHECK_THAT(parse_error_of(head("seeds = []\n") + ok), Catch::Contains("seeds"));
  CHECK_THAT(parse_error_of(head("seeds = [1, 1]\n") + ok), Catch::Contains("seeds") && Catch::Contains("twice"));
  CHECK_THAT(parse_error_of(head("seeds = [\"a\"]\n") + ok), Catch::Contains("seeds"));
  CHECK_THAT(parse_error_of(head("replay_fraction = 1.0\n") + ok),
             Catch::Contains("replay_fraction = 1.0") && Catch::Contains("[0, 1)"));
  CHECK_THAT(parse_error_of(head("replay_fraction = -0.1\n") + ok), Catch::Contains("[0, 1)"));
  CHECK_THAT(parse_error_of(head("replay_tokens = 0\n") + ok), Catch::Contains("replay_tokens"));
  CHECK_THAT(parse_error_of(head("rewarm = 1\n") + ok), Catch::Contains("rewarm") && Catch::Contains("true or false"));

  // method options
  CHECK_THAT(parse_error_of(head() + ok + "[method.peer]\noracle = true\n"),
             Catch::Contains("method 'peer'") && Catch::Contains("oracle needs freeze-and-add pools"));
  CHECK_THAT(parse_error_of(head() + ok + "[method.peer_fa_query]\nadd_pools = false\n"),
             Catch::Contains("method 'peer_fa_query'") && Catch::Contains("add_pools = true"));
  CHECK_THAT(parse_error_of(head() + ok + "[method.peer]\nfreeze_bn_stats = true\n"),
             Catch::Contains("needs freeze-and-add pools"));
  CHECK_THAT(parse_error_of(head() + ok + "[method.dense]\nadd_pools = true\n"), Catch::Contains("sequential PEER"));
  CHECK_THAT(parse_error_of(head() + ok + "[method.joint]\nreplay = true\n"), Catch::Contains("replay"));
  CHECK_THAT(parse_error_of(head() + ok + "[method.peer]\noracle = 1\n"), Catch::Contains("true or false"));
  CHECK_THAT(parse_error_of(head() + ok + "[method.peer_big]\n\"peer.n2\" = 4\n"), Catch::Contains("peer_big"));
  // 64 + 5 x 5 experts = 89, a prime: no split with both sides >= top_k
  CHECK_THAT(parse_error_of(head("pool_size = \"5x5\"\n") + ok), Catch::Contains("peer_big") && Catch::Contains("89"));
  CHECK_THAT(parse_error_of(head("pool_size = \"3x8\"\n") + ok), Catch::Contains("pool_size 3x8") && Catch::Contains("top_k"));
  // 64 + 36 = 100 is not 8 x N: the most square split, 10 x 10
  const Experiment sq = parse_text(head("pool_size = 36\n") + ok);
  CHECK(sq.jobs[3].name == "peer_big");
  CHECK(sq.jobs[3].config.peer.n1 == 10);
  CHECK(sq.jobs[3].config.peer.n2 == 10);

  // [pretrain]
  CHECK_THAT(parse_error_of(head() + ok + "[pretrain]\ngenres = [\"ca\"]\n"), Catch::Contains("[pretrain] needs tokens"));
  CHECK_THAT(parse_error_of(head() + ok + "[pretrain]\ngenres = [\"zz\"]\ntokens = 10\n"),
             Catch::Contains("[pretrain]") && Catch::Contains("unknown Brown genre 'zz'"));
  CHECK_THAT(parse_error_of(head() + ok + "[pretrain]\ntokens = 10\n"), Catch::Contains("exactly one of genres"));
  CHECK_THAT(parse_error_of("pretrain = 3\n" + head() + ok), Catch::Contains("[pretrain] table"));
}

TEST_CASE("lifelong: errors are InputErrors naming the file", "[lifelong]") {
  CHECK_THROWS_AS(parse_text("domains = []\n" + head() + kBase), InputError);
  CHECK_THROWS_AS(parse_text(head("pool_size = \"abc\"\n") + kBase + kDomains), InputError);
  CHECK_THAT(parse_error_of(head("", "tokens_per_phase = 0\n") + kBase + kDomains), Catch::StartsWith("exp.toml"));
  CHECK_THAT(parse_error_of(head("methods = [\"x\"]\n") + kBase + kDomains), Catch::StartsWith("exp.toml"));
}

}  // namespace
