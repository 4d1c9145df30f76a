// Expert configs the CLI must refuse (exit 2 through InputError), each naming its key.
#include <catch2/catch.hpp>

#include "core/error.h"
#include "experiments/run/config.h"
#include "experiments/run/pools.h"

using namespace peer;

namespace {
void expect_refused(const std::string& toml, const std::string& key) {
  INFO(toml);
  try {
    parse_config(toml, "test.toml");
    FAIL("accepted");
  } catch (const InputError& e) {
    CHECK_THAT(e.what(), Catch::Contains(key));
  }
}
}  // namespace

TEST_CASE("bad PEER configs are refused naming the key", "[peer][config]") {
  expect_refused("[peer]\nnum_experts = 16384\ntop_k = 129\n", "peer.top_k");  // n = 128
  expect_refused("[peer]\nd_key = 63\n", "peer.d_key");
  expect_refused("[peer]\nnum_experts = 1000\n", "peer.num_experts");  // not a square
  expect_refused("[peer]\nnum_experts = 1000\nn1 = 10\nn2 = 10\n", "peer.num_experts");
  expect_refused("[peer]\nheads = 0\n", "peer.heads");
  expect_refused("[peer]\nactivation = \"tanh\"\n", "peer.activation");
  expect_refused("[train]\nsparse_adam = \"sometimes\"\n", "train.sparse_adam");
  CHECK_NOTHROW(parse_config("[peer]\nnum_experts = 1000\nn1 = 40\nn2 = 25\ntop_k = 16\n", "ok.toml"));
}

TEST_CASE("pool sizes parse as N (square) or N1xN2", "[peer][config]") {
  CHECK(parse_pool_size("16384", "--size").n1 == 128);
  CHECK(parse_pool_size("40x25", "--size").n2 == 25);
  CHECK_THROWS_AS(parse_pool_size("1000", "--size"), InputError);
  CHECK_THROWS_AS(parse_pool_size("0x5", "--size"), InputError);
  CHECK_THROWS_AS(parse_pool_size("big", "--size"), InputError);
}
