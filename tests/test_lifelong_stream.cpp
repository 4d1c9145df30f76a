// Lifelong streams (experiments/lifelong/stream.h): the order in which methods read the domain
// windows (sequential lanes, joint shuffle), the batches read from them, and the check that
// every domain is long enough for a phase.
#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <utility>
#include <vector>

#include "experiments/lifelong/stream.h"

using namespace peer;

namespace {

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

}  // namespace
