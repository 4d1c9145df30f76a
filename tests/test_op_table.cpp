// The op table's gradient mode (op_table.h), run in CI: every gradient row's backward against
// central finite differences (gradcheck.h) for each of its seeds, and every exact row against its
// plain oracle. GRADCHECK_VERBOSE=1 prints the report of every operand.
#include <catch2/catch.hpp>

#include <set>

#include "tests/gradcheck.h"
#include "tests/op_table.h"
#include "tests/thread_guard.h"

using namespace peer;
using namespace peer::optable;

namespace {

void check_gradients(const Case& c, uint64_t seed) {
  std::unique_ptr<GradOp> op = c.grad(seed);
  op->loss();
  std::vector<Operand> operands = op->backward();
  gradcheck::Options opt;
  opt.atol = c.tol.atol;
  opt.rtol = c.tol.rtol;
  opt.eps = c.tol.eps;
  opt.max_elements = c.tol.max_elements;
  opt.seed = seed;
  if (!op->kinks().empty()) opt.kinks = [&] { return op->kinks(); };
  const auto loss = [&] { return op->loss(); };
  for (Operand& o : operands) {
    REQUIRE(int64_t(o.grad.size()) == o.n);
    const gradcheck::Report rep = gradcheck::check(o.name, o.value, o.grad.data(), o.n, loss, opt);
    REQUIRE_GRAD_OK(rep);
    // Each skip is an element not checked: many would make a weak test.
    CHECK(double(rep.skipped) <= c.tol.max_skipped * double(rep.checked + rep.skipped));
  }
}

}  // namespace

TEST_CASE("op table: every row is well formed", "[op-table]") {
  std::set<std::string> names;
  for (const std::vector<Case>& table : {all_cases(), all_perf_cases()})
    for (const Case& c : table) {
      INFO(c.name);
      CHECK(bool(c.grad) != bool(c.exact));
      CHECK(!c.seeds.empty());
      CHECK(c.items > 0);
      CHECK(c.tol.atol >= 0.0);
      CHECK(c.tol.rtol >= 0.0);
      if (c.grad) CHECK(c.tol.eps > 0.0f);
    }
  for (const Case& c : all_cases()) CHECK(names.insert(c.name).second);  // a name finds its row
}

TEST_CASE("op table, gradient mode: every op's backward matches central finite differences", "[op-table][grad]") {
  ThreadGuard threads(1);  // thousands of tiny forwards: see ThreadGuard
  for (const Case& c : all_cases()) {
    if (!c.grad) continue;
    for (uint64_t seed : c.seeds) {
      INFO(c.name << ", seed " << seed);
      check_gradients(c, seed);
    }
  }
}

TEST_CASE("op table, exact mode: ops without a gradient equal their plain oracle", "[op-table]") {
  for (const Case& c : all_cases()) {
    if (!c.exact) continue;
    for (uint64_t seed : c.seeds) {
      INFO(c.name << ", seed " << seed);
      CHECK(c.exact(seed)->compare(c.tol.atol, c.tol.rtol) == "");
    }
  }
}

TEST_CASE("op table, backend mode's comparison: every gradient row moved to the CPU equals its CPU run",
          "[op-table][backend]") {
  ThreadGuard threads(1);  // many tiny forwards: see ThreadGuard
  for (const Case& c : all_cases()) {
    if (!c.grad) continue;
    INFO(c.name);
    CHECK(compare_on_device(c, c.seeds[0], Device::CPU) == "");
  }
}

TEST_CASE("op table, backend mode's comparison reports every mismatch with its shape and max error",
          "[op-table][backend]") {
  Case c = core_cases()[0];  // linear N=5 in=7 out=6 bias
  REQUIRE(c.name == "linear N=5 in=7 out=6 bias");
  // The second build draws from another seed: loss, output and every gradient differ.
  c.grad = [make = c.grad, builds = uint64_t(0)](uint64_t seed) mutable { return make(seed + builds++); };
  const std::string report = compare_on_device(c, c.seeds[0], Device::CPU);
  INFO(report);
  for (const char* line : {"loss: got ", "output [5, 6]: ", "dx (35 values): ", "dlin.weight (42 values): ",
                           "dlin.bias (6 values): "})
    CHECK(report.find(line) != std::string::npos);
  CHECK(report.find("max error") != std::string::npos);
}

TEST_CASE("op table: a row whose op has no device path refuses CUDA by name", "[op-table][backend]") {
  for (const Case& c : all_cases()) {
    if (c.grad) continue;  // exact rows: retrieval and row-sparse AdamW run on the CPU only
    INFO(c.name);
    CHECK_THROWS_WITH(compare_on_device(c, c.seeds[0], Device::CUDA), Catch::Contains("has no CUDA implementation"));
  }
}
