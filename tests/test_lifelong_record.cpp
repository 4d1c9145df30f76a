// Lifelong records (experiments/lifelong/record.h): the continual-learning metrics of a loss
// matrix, and the per-method state file (round trip, corruption named).
#include <catch2/catch.hpp>

#include <cmath>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "experiments/lifelong/record.h"

using namespace peer;

namespace {

// ---- stream_metrics ----

TEST_CASE("lifelong: stream_metrics on a hand-computed 3x3 loss matrix", "[lifelong]") {
  // R[i][j]: loss on domain j after phase i. Domain 1's best earlier loss (1.8, phase 2) is not
  // its first (4.0), so "best earlier" and "first" give different forgetting. scratch[j]: the loss
  // of a model trained on domain j alone.
  const std::vector<double> scratch = {2.2, 2.0, 1.3};
  const std::vector<std::vector<double>> R = {{2.0, 4.0, 4.5},   //
                                              {2.5, 1.8, 4.2},   //
                                              {3.0, 2.4, 1.5}};
  const StreamMetrics m = stream_metrics(scratch, R);
  // final: mean of the last row.
  CHECK(m.final_loss == Approx((3.0 + 2.4 + 1.5) / 3.0));
  // forgetting: j = 0: 3.0 - min(2.0, 2.5) = 1.0; j = 1: 2.4 - min(4.0, 1.8) = 0.6 -> mean 0.8.
  CHECK(m.forgetting == Approx(0.8));
  // backward transfer: j = 0: R00 - R20 = 2.0 - 3.0; j = 1: R11 - R21 = 1.8 - 2.4 -> mean -0.8.
  CHECK(m.backward_transfer == Approx(-0.8));
  // forward transfer: scratch[j] - R[j][j]: 2.2 - 2.0, 2.0 - 1.8, 1.3 - 1.5 -> mean 0.2 / 3.
  CHECK(m.forward_transfer == Approx(0.2 / 3.0));
  // without from-scratch losses (joint) it is undefined
  CHECK(std::isnan(stream_metrics(std::vector<double>{}, R).forward_transfer));
}

TEST_CASE("lifelong: stream_metrics when nothing was forgotten", "[lifelong]") {
  // Every loss only falls: forgetting is the (negative) improvement, backward transfer positive.
  const std::vector<std::vector<double>> R = {{3.0, 5.0}, {2.5, 2.0}};
  const StreamMetrics m = stream_metrics({6.0, 6.0}, R);
  CHECK(m.final_loss == Approx(2.25));
  CHECK(m.forgetting == Approx(2.5 - 3.0));
  CHECK(m.backward_transfer == Approx(3.0 - 2.5));
  CHECK(m.forward_transfer == Approx((6.0 - 3.0 + 6.0 - 2.0) / 2.0));
}

TEST_CASE("lifelong: stream_metrics with one phase or none is NaN where undefined", "[lifelong]") {
  const StreamMetrics one = stream_metrics({4.0, 4.0}, {{2.0, 3.0}});
  CHECK(one.final_loss == Approx(2.5));
  CHECK(std::isnan(one.forgetting));
  CHECK(std::isnan(one.backward_transfer));
  CHECK(one.forward_transfer == Approx(4.0 - 2.0));  // one phase: domain 0 only
  const StreamMetrics none = stream_metrics({4.0}, {});
  CHECK(std::isnan(none.final_loss));
  CHECK(std::isnan(none.forgetting));
  CHECK(std::isnan(none.backward_transfer));
  CHECK(std::isnan(none.forward_transfer));
}

// ---- MethodRecord ----

MethodRecord sample_record() {
  MethodRecord r;
  r.method = "peer_freeze_add";
  r.seed = 7;
  r.scratch_loss = {2.5, 2.25, 3.0};
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
  CHECK(b.seed == 7);
  CHECK(b.scratch_loss == a.scratch_loss);
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
