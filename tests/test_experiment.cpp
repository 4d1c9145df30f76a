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
