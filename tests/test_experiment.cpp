// Experiment files for `peer run` (experiments/jobs/experiment.h): base config, variant overrides in
// file order, budgets, and the errors that must stop a sweep before it trains.
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"
#include "experiments/run/accounting.h"
#include "experiments/jobs/experiment.h"
#include "experiments/run/train_step.h"
#include "tests/experiment_text.h"

using namespace peer;

namespace {

const std::string kBase = R"(
[base.model]
n_embd = 32
n_head = 2
n_layer = 2
block_size = 16
[base.train]
batch_size = 4
)";

}  // namespace

TEST_CASE("experiment: variants override the base, in file order") {
  Experiment e = parse_text("[experiment]\nkind = \"sweep\"\nsteps = 7\n" + kBase + R"(
[variants.zeta]
[variants.alpha]
"model.ffn" = "moe"
moe.num_experts = 32
[variants.mid]
model = { ffn = "peer" }
peer = { num_experts = 256, top_k = 4, d_key = 16 }
data.files = ["a.txt", "b.txt"]
)");
  CHECK(e.kind == "sweep");
  CHECK(e.budget.kind == Budget::Kind::Steps);
  CHECK(e.base.model.n_embd == 32);
  REQUIRE(e.jobs.size() == 3);
  CHECK(e.jobs[0].name == "zeta");
  CHECK(e.jobs[1].name == "alpha");
  CHECK(e.jobs[2].name == "mid");
  CHECK(e.jobs[0].sets.empty());
  CHECK(e.jobs[1].config.model.ffn == "moe");
  CHECK(e.jobs[1].config.moe.num_experts == 32);
  CHECK(e.jobs[1].config.model.n_embd == 32);  // from the base
  CHECK(e.jobs[2].config.model.ffn == "peer");
  CHECK(e.jobs[2].config.peer.num_experts == 256);
  CHECK(e.jobs[2].config.data.files == std::vector<std::string>{"a.txt", "b.txt"});
}

TEST_CASE("experiment: base from a file next to the experiment") {
  auto dir = std::filesystem::temp_directory_path() / "peer-test-experiment";
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "base.toml") << "[model]\nn_embd = 48\nn_head = 4\n";
  std::ofstream(dir / "exp.toml") << "base = \"base.toml\"\n[experiment]\nkind = \"sweep\"\n[variants.a]\n";
  Experiment e = load_experiment((dir / "exp.toml").string());
  CHECK(e.base.model.n_embd == 48);
  CHECK(e.jobs.at(0).config.model.n_head == 4);
  std::filesystem::remove_all(dir);
}

TEST_CASE("experiment: budgets set train.steps") {
  Config c = parse_text("[experiment]\nkind = \"sweep\"\n" + kBase + "[variants.a]\n").jobs[0].config;
  const int64_t per_step = 4 * 16;
  Config s = c;
  apply_budget(s, {Budget::Kind::Steps, 12}, 10, "a");
  CHECK(s.total_steps() == 12);
  Config t = c;
  apply_budget(t, {Budget::Kind::Tokens, double(3 * per_step + 1)}, 10, "a");  // rounded up
  CHECK(t.total_steps() == 4);
  CHECK(t.train.tokens == 0);
  Config f = c;
  const double step_flops = account(c, 10).train_flops() * double(per_step);
  apply_budget(f, {Budget::Kind::Flops, 5.5 * step_flops}, 10, "a");  // rounded down
  CHECK(f.total_steps() == 5);
  Config tiny = c;
  CHECK_THROWS_AS(apply_budget(tiny, {Budget::Kind::Flops, 0.5 * step_flops}, 10, "a"), InputError);
  Config none = c;
  apply_budget(none, {}, 10, "a");
  CHECK(none.total_steps() == c.total_steps());
}

TEST_CASE("experiment: bad files name the problem") {
  const std::string head = "[experiment]\nkind = \"sweep\"\n";
  CHECK_THAT(parse_error_of(head + "foo = 1\n" + kBase + "[variants.a]\n"), Catch::Contains("unknown [experiment] key 'foo'"));
  CHECK_THAT(parse_error_of(head + kBase + "[variants.a]\n\"moe.nope\" = 3\n"),
             Catch::Contains("variant 'a': unknown config key 'moe.nope'"));
  CHECK_THAT(parse_error_of(head + kBase + "[variants.a]\nmoe.top_k = 99\n"), Catch::Contains("variant 'a'"));
  CHECK_THAT(parse_error_of(head + "steps = 0\n" + kBase + "[variants.a]\n"), Catch::Contains("must be > 0"));
  CHECK_THAT(parse_error_of(head + "flops = -1.0\n" + kBase + "[variants.a]\n"), Catch::Contains("must be > 0"));
  CHECK_THAT(parse_error_of(head + "steps = 2\ntokens = 9\n" + kBase + "[variants.a]\n"),
             Catch::Contains("more than one budget"));
  CHECK_THAT(parse_error_of(head + "steps = 2\n" + kBase + "[variants.a]\ntrain.steps = 3\n"),
             Catch::Contains("sets train.steps"));
  CHECK_THAT(parse_error_of(head + kBase), Catch::Contains("no variants"));
  CHECK_THAT(parse_error_of("[experiment]\nkind = \"lifelong\"\n" + kBase + "[variants.a]\n"),
             Catch::Contains("unknown top-level key 'variants'"));  // lifelong files have no variants
  CHECK_THAT(parse_error_of("[experiment]\nkind = \"grid\"\n" + kBase + "[variants.a]\n"), Catch::Contains("kind"));
  CHECK_THAT(parse_error_of(head + "[variants.a]\n"), Catch::Contains("missing the base config"));
  CHECK_THAT(parse_error_of(head + kBase + "[variants.\"a/b\"]\n"), Catch::Contains("variant 'a/b'"));
  CHECK_THAT(parse_error_of(head + kBase + "[variants.a]\n[extra]\n"), Catch::Contains("unknown top-level key 'extra'"));
  CHECK_THAT(parse_error_of(head + "[base.model]\nn_embd = 33\n[variants.a]\n"), Catch::Contains("exp.toml [base]"));
}

// The budget sets train.steps, and the warmup + cosine schedule spans train.steps: under an
// iso-FLOP budget a cheap variant trains longer and still ends its own schedule at its last step.
TEST_CASE("experiment: an iso-FLOP budget gives every variant its own whole schedule") {
  Experiment e = parse_text("[experiment]\nkind = \"sweep\"\nflops = 2e10\n" + kBase +
                            "warmup_steps = 10\nlr = 1e-3\nmin_lr_ratio = 0.1\n"  // more [base.train]
                            "[variants.dense]\n[variants.peer]\nmodel.ffn = \"peer\"\n"
                            "peer = { num_experts = 256, heads = 2, top_k = 4, d_key = 16 }\n");
  std::vector<int64_t> steps;
  for (const Job& j : e.jobs) {
    INFO(j.name);
    Config c = j.config;
    apply_budget(c, e.budget, 10, j.name);
    const LrSchedule lr = lr_schedule(c);
    CHECK(lr.total_steps == c.total_steps());
    CHECK(lr.at(c.total_steps() - 1) == Approx(1e-4).epsilon(0.01));  // decayed to lr * min_lr_ratio
    CHECK(lr.at(c.total_steps() / 2) > 2e-4);                          // not before
    const double training = account(c, 10).train_flops() * double(c.total_steps() * 4 * 16);
    CHECK(training <= 2e10);
    CHECK(training > 2e10 - account(c, 10).train_flops() * 4 * 16);  // within one step of the budget
    steps.push_back(c.total_steps());
  }
  CHECK(steps[1] > steps[0]);  // PEER's step is cheaper here: more steps for the same FLOPs
}

TEST_CASE("experiment: seeds") {
  const std::string head = "[experiment]\nkind = \"sweep\"\n";
  Experiment e = parse_text(head + "seeds = [3, 1, 2]\n" + kBase + "[variants.a]\n");
  CHECK(e.seeds == std::vector<int64_t>{3, 1, 2});
  CHECK(job_seeds(e, e.jobs[0]) == std::vector<int64_t>{3, 1, 2});
  Experiment one = parse_text(head + kBase + "[variants.a]\ntrain.seed = 42\n");
  CHECK(one.seeds.empty());
  CHECK(job_seeds(one, one.jobs[0]) == std::vector<int64_t>{42});  // the variant's own seed, once

  CHECK_THAT(parse_error_of(head + "seeds = []\n" + kBase + "[variants.a]\n"), Catch::Contains("seeds is empty"));
  CHECK_THAT(parse_error_of(head + "seeds = [1, 2, 1]\n" + kBase + "[variants.a]\n"),
             Catch::Contains("seed 1 appears twice"));
  CHECK_THAT(parse_error_of(head + "seeds = [-1]\n" + kBase + "[variants.a]\n"), Catch::Contains("whole number >= 0"));
  CHECK_THAT(parse_error_of(head + "seeds = [1.5]\n" + kBase + "[variants.a]\n"), Catch::Contains("whole number"));
  CHECK_THAT(parse_error_of(head + "seeds = 3\n" + kBase + "[variants.a]\n"), Catch::Contains("expected a list"));
  CHECK_THAT(parse_error_of(head + "seeds = [1]\n" + kBase + "[variants.a]\ntrain.seed = 5\n"),
             Catch::Contains("sets train.seed"));

  // Lifelong streams run every method once per seed (lifelong/run.cpp sets train.seed per job);
  // without seeds, the base's train.seed.
  const std::string stream = "[experiment]\nkind = \"lifelong\"\nmethods = [\"dense\"]\ntokens_per_phase = 640\n";
  CHECK(parse_text(stream + "seeds = [5, 6]\n" + kBase).lifelong.seeds == std::vector<int64_t>{5, 6});
  CHECK(parse_text(stream + kBase).lifelong.seeds == std::vector<int64_t>{parse_text(stream + kBase).base.train.seed});
  CHECK_THAT(parse_error_of(stream + "seeds = []\n" + kBase), Catch::Contains("seeds is empty"));
  CHECK_THAT(parse_error_of(stream + "seeds = [5, 5]\n" + kBase), Catch::Contains("appears twice"));
}
