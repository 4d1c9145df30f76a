// Lifelong streams (experiments/lifelong/stream.h): the order in which methods read the domain
// windows (sequential lanes, joint shuffle), the batches read from them, and the check that
// every domain is long enough for a phase.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
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
  CHECK_NOTHROW(check_stream_fits(d, p, 0, "dense"));
  d.domains[0].train.pop_back();
  CHECK_THROWS_WITH(check_stream_fits(d, p, 0, "dense"), Catch::Contains("domain 'short'") && Catch::Contains("25"));
  d.domains[0].train.push_back(0);
  d.domains[0].eval.pop_back();
  CHECK_THROWS_WITH(check_stream_fits(d, p, 0, "moe"), Catch::Contains("method 'moe'") && Catch::Contains("held-out"));
  d.domains[0].eval.push_back(0);
  // the pretrain text: 2 steps read 2*2*4 + 1 tokens
  d.pretrain.train.assign(17, 0);
  CHECK_NOTHROW(check_stream_fits(d, p, 2, "peer"));
  d.pretrain.train.pop_back();
  CHECK_THROWS_WITH(check_stream_fits(d, p, 2, "peer"), Catch::Contains("pretrain") && Catch::Contains("17"));
}

TEST_CASE("lifelong: replay draws only from earlier domains, within its memory budget", "[lifelong]") {
  const int64_t P = 4, S = 50, B = 8, T = 4;
  PhasePlan p = plan(P, S, B, T, false);
  p.replay_fraction = 0.05;
  p.replay_tokens = 61;
  CHECK(keys(phase_windows(p, 0)) == keys(phase_windows(plan(P, S, B, T, false), 0)));  // nothing to replay yet
  for (int64_t phase = 1; phase < P; ++phase) {
    INFO("phase " << phase);
    const std::vector<Window> w = phase_windows(p, phase), plain = lane_windows(int32_t(phase), S, B, T);
    const int64_t budget = p.replay_tokens / phase;  // tokens of each earlier domain in memory
    int64_t replayed = 0;
    std::set<Key> memory_used;
    for (size_t i = 0; i < w.size(); ++i) {
      if (w[i].domain == phase) {
        CHECK(w[i].start == plain[i].start);  // the phase's own windows stay where they were
        continue;
      }
      ++replayed;
      CHECK(w[i].domain >= 0);
      CHECK(w[i].domain < phase);                    // an earlier domain
      CHECK(w[i].start % T == 0);
      CHECK(w[i].start + T + 1 <= budget);           // inside that domain's share of the memory
      CHECK(i % B >= size_t(B - 1));                 // the last rows of a step
      memory_used.insert({w[i].domain, w[i].start});
    }
    // floor(0.05 * 8 * 50) = 20 of the phase's 400 rows
    CHECK(replayed == 20);
    std::map<int32_t, int64_t> end;  // per domain: the memory holds tokens [0, end)
    for (const Window& m : replay_memory(p, phase)) end[m.domain] = std::max(end[m.domain], m.start + T + 1);
    int64_t tokens = 0;
    for (const auto& [domain, e] : end) tokens += e;
    CHECK(int64_t(end.size()) == phase);
    CHECK(tokens <= p.replay_tokens);
    CHECK(memory_used.size() > 1);  // drawn, not one window repeated
  }
  // The same plan draws the same windows; another seed others.
  CHECK(keys(phase_windows(p, 2)) == keys(phase_windows(p, 2)));
  PhasePlan q = p;
  q.seed = 99;
  CHECK(keys(phase_windows(q, 2)) != keys(phase_windows(p, 2)));
}

TEST_CASE("lifelong: pretrain windows are lanes over the pretrain text", "[lifelong]") {
  StreamData d;
  for (int i = 0; i < 100; ++i) d.pretrain.train.push_back(500 + i);
  const PhasePlan p = plan(1, 3, 2, 4, false);
  const std::vector<Window> w = lane_windows(kPretrain, 3, 2, 4);
  REQUIRE(w.size() == 6);
  for (const Window& x : w) CHECK(x.domain == kPretrain);
  std::vector<int32_t> x, y;
  stream_batch(d, w, p, 1, x, y);  // step 1: lane 0 at 1*T, lane 1 at (3 + 1)*T
  CHECK(x == std::vector<int32_t>{504, 505, 506, 507, 516, 517, 518, 519});
}

}  // namespace
