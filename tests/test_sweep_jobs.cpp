// What a sweep's jobs rely on: --shard parsing and membership, job claims (experiments/jobs/
// claim.h) and the per-variant summary over seeds with its best-or-tied verdict (sweep/summary.h).
#include <catch2/catch.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "experiments/jobs/claim.h"
#include "experiments/jobs/queue.h"
#include "experiments/sweep/summary.h"

using namespace peer;
namespace fs = std::filesystem;

TEST_CASE("sweep jobs: --shard I/N") {
  Shard s = parse_shard("2/3");
  CHECK(s.index == 2);
  CHECK(s.count == 3);
  CHECK(!s.has(0));
  CHECK(s.has(1));
  CHECK(s.has(4));
  CHECK(Shard{}.has(7));  // 1/1: every job
  for (const char* bad : {"3/2", "0/2", "1/0", "1", "a/2", "1/2/3", "-1/2", "1/ 2", ""}) {
    INFO(bad);
    CHECK_THROWS_AS(parse_shard(bad), InputError);
  }
  CHECK_THROWS_WITH(parse_shard("3/2"), Catch::Contains("--shard '3/2'") && Catch::Contains("between 1 and N"));
  CHECK_THROWS_WITH(parse_shard("x"), Catch::Contains("expected I/N"));
  // Every job is in exactly one shard.
  for (size_t j = 0; j < 10; ++j) CHECK(int(Shard{1, 3}.has(j)) + int(Shard{2, 3}.has(j)) + int(Shard{3, 3}.has(j)) == 1);
}

TEST_CASE("sweep jobs: claims") {
  const fs::path root = fs::temp_directory_path() / ("peer-test-claims-" + std::to_string(::getpid()));
  fs::remove_all(root);
  const std::string dir = (root / "variants" / "a" / "seed-1").string();
  {
    JobClaim first(dir);
    REQUIRE(first.held());
    CHECK(fs::is_regular_file(dir + ".claim"));
    CHECK(first.holder() == claim_id());
    JobClaim second(dir);  // a live holder (this process): not taken over
    CHECK(!second.held());
    CHECK(second.holder() == claim_id());
  }
  CHECK(!fs::exists(dir + ".claim"));  // released

  // A claim of this host whose process is gone is taken over; one of another host is not.
  const std::string host = claim_id().substr(0, claim_id().rfind(' '));
  pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  REQUIRE(dead > 0);
  ::waitpid(dead, nullptr, 0);
  std::ofstream(dir + ".claim") << host << " " << dead << "\n";
  {
    JobClaim c(dir);
    CHECK(c.held());
  }
  std::ofstream(dir + ".claim") << "another-host-" << host << " " << dead << "\n";
  {
    JobClaim c(dir);
    CHECK(!c.held());
    CHECK(c.holder() == "another-host-" + host + " " + std::to_string(dead));
  }
  fs::remove_all(root);
}

namespace {
SweepRow finished(const std::string& name, int64_t seed, double loss) {
  SweepRow r;
  r.name = name;
  r.seed = seed;
  r.finished = true;
  r.final_val_loss = r.best_val_loss = loss;
  r.tokens = 100;
  return r;
}
}  // namespace

TEST_CASE("sweep jobs: mean, sample std and the best-or-tied verdict") {
  CHECK(mean_of({1.0, 2.0, 3.0}) == 2.0);
  CHECK(sample_std({1.0, 2.0, 3.0}) == Approx(1.0));  // n - 1: sqrt((1 + 0 + 1) / 2)
  CHECK(std::isnan(sample_std({1.0})));

  // a: 2.00 +- 0.01, b: 2.10 +- 0.01 -> a is best (gap 0.10 > 0.02).
  std::vector<SweepRow> rows = {finished("b", 1, 2.09), finished("b", 2, 2.11), finished("a", 1, 1.99),
                                finished("a", 2, 2.01)};
  rows.push_back(finished("c", 1, 5.0));
  rows.back().finished = false;  // unfinished jobs are left out
  std::vector<VariantSummary> vs = summarize_variants(rows);
  REQUIRE(vs.size() == 2);
  CHECK(vs[0].name == "a");
  CHECK(vs[0].runs.size() == 2);
  CHECK(vs[0].final_mean == Approx(2.0));
  CHECK(vs[0].final_std == Approx(std::sqrt(2e-4)));
  CHECK(vs[0].verdict == "best");
  CHECK(vs[1].verdict == "");

  // A gap of 0.003 inside a spread of 0.02 is a tie.
  rows = {finished("a", 1, 1.99), finished("a", 2, 2.01), finished("b", 1, 1.993), finished("b", 2, 2.013)};
  vs = summarize_variants(rows);
  CHECK(vs[0].verdict == "tied");
  CHECK(vs[1].verdict == "tied");

  // One seed: no spread, never best.
  vs = summarize_variants({finished("a", 1, 1.0), finished("b", 1, 3.0)});
  CHECK(vs[0].verdict == "tied");
}
