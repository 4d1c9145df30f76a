// What experiment reports print (experiments/jobs/report_format.h, experiments/sweep/eta.h): the
// one number formatter, the gnuplot axis and figure helpers, the sweep ETA from measured cost,
// and that the shipped sweeps evaluate often enough for their loss curves.
#include <catch2/catch.hpp>

#include <cmath>
#include <string>

#include "experiments/jobs/experiment.h"
#include "experiments/jobs/report_format.h"
#include "experiments/sweep/eta.h"
#include "experiments/sweep/report.h"

using namespace peer;

TEST_CASE("report format: si() gives 3 significant digits and an SI suffix") {
  CHECK(si(0) == "0");
  CHECK(si(512) == "512");
  CHECK(si(999) == "999");
  CHECK(si(999.5) == "1k");  // rounds to 3 digits before picking the suffix (not "1e+03")
  CHECK(si(1000) == "1k");
  CHECK(si(60000) == "60k");
  CHECK(si(61440) == "61.4k");
  CHECK(si(1046740) == "1.05M");  // the 1.04674e+06 FLOPs
  CHECK(si(1049999) == "1.05M");
  CHECK(si(1.05e6) == "1.05M");
  CHECK(si(999999) == "1M");
  CHECK(si(3e12) == "3T");
  CHECK(si(4.2e15) == "4.2P");
  CHECK(si(-1500) == "-1.5k");
  CHECK(si(0.25) == "0.25");
  CHECK(si(12.345) == "12.3");
  CHECK(si(NAN) == "NaN");
  CHECK(si(INFINITY) == "inf");
}

TEST_CASE("report format: fmt() is printf-style through absl") {
  CHECK(fmt("%.4f", 2.5) == "2.5000");
  CHECK(fmt("%d steps of %s", int64_t(400), std::string("dense")) == "400 steps of dense");
  CHECK(fmt("%g", 256.0) == "256");
}

TEST_CASE("report format: gnuplot axis ticks at a round step, labelled by si()") {
  CHECK(gnuplot_si_axis("x", 32400) ==
        "set xrange [0:35000]\nset xtics (\"0\" 0, \"5k\" 5000, \"10k\" 10000, \"15k\" 15000, \"20k\" 20000, "
        "\"25k\" 25000, \"30k\" 30000, \"35k\" 35000)\n");
  const std::string flops = gnuplot_si_axis("x", 1.5e6);  // step 200k: 1.2M must not read "1M"
  CHECK(flops.find("\"1.2M\" 1200000") != std::string::npos);
  CHECK(flops.find("set xrange [0:1600000]") != std::string::npos);
  CHECK(gnuplot_si_axis("y", 0) == "set autoscale y\nset ytics autofreq\n");
}

TEST_CASE("report format: a gnuplot figure is drawn once per format") {
  const std::string pre = gnuplot_preamble();
  CHECK(pre.find("formats = 'png'") != std::string::npos);
  CHECK(pre.find("pdfcairo") != std::string::npos);
  CHECK(pre.find("svg size 1000,640") != std::string::npos);
  CHECK(pre.find("set key inside top right") != std::string::npos);
  CHECK(gnuplot_figure("a", "plot x\n") ==
        "do for [ext in formats] {\n  eval 'set terminal ' . terminal(ext)\n  set output 'a.' . ext\n  plot x\n}\n"
        "unset output\n");
}

TEST_CASE("sweep ETA: from the cost measured per variant, then per kind; untimed kinds apart") {
  // dense: 1e9 FLOPs in 7 s; peer-a: 1e9 FLOPs in 51 s (a CPU's PEER FLOP is far slower).
  const std::vector<JobCost> done = {{"dense", "dense", 1e9, 7}, {"peer-a", "peer", 1e9, 51}};
  SECTION("a variant's own finished seeds time its next seed") {
    const SweepEta e = estimate_eta(done, {{"peer-a", "peer", 2e9}});
    CHECK(e.seconds == Approx(102));
    CHECK(e.untimed == 0);
    CHECK(e.describe() == "~1m42s");
  }
  SECTION("a new variant of a timed kind goes by its kind's rate, not the first variant's") {
    const SweepEta e = estimate_eta(done, {{"peer-b", "peer", 1e9}, {"dense", "dense", 1e9}});
    CHECK(e.seconds == Approx(51 + 7));
  }
  SECTION("a variant's rate beats its kind's") {
    const std::vector<JobCost> two = {{"moe-g1", "moe", 1e9, 10}, {"moe-g16", "moe", 1e9, 30}};
    CHECK(estimate_eta(two, {{"moe-g16", "moe", 1e9}}).seconds == Approx(30));
    CHECK(estimate_eta(two, {{"moe-g4", "moe", 1e9}}).seconds == Approx(20));  // the kind: 2e9 FLOPs in 40 s
  }
  SECTION("a kind nothing has timed is not guessed from another kind") {
    const SweepEta e = estimate_eta({{"dense", "dense", 1e9, 7}}, {{"dense", "dense", 1e9}, {"peer", "peer", 1e9},
                                                                 {"peer", "peer", 1e9}, {"moe", "moe", 1e9}});
    CHECK(e.seconds == Approx(7));
    CHECK(e.untimed == 3);
    CHECK(e.describe() == "~7s + 3 jobs not timed yet (peer, moe)");
  }
  SECTION("nothing finished yet") {
    CHECK(estimate_eta({}, {{"dense", "dense", 1e9}}).describe() == "known after the first job");
  }
}

// The shipped sweeps evaluate every variant at least kMinCurvePoints times, so each curve of
// their plots has that many points (vocabulary 85: about Brown's characters).
TEST_CASE("report format: shipped sweeps give at least 10 points per loss curve") {
  for (const char* file : {"granularity.toml", "granularity-quick.toml", "granularity-gpu.toml"}) {
    Experiment e = load_experiment(std::string(PEER_SOURCE_DIR) + "/experiments/configs/" + file);
    for (const Job& v : e.jobs) {
      INFO(file << ": " << v.name);
      SweepRow row;
      row.config = v.config;
      apply_budget(row.config, e.budget, 85, v.name);
      CHECK(row.evaluations() >= kMinCurvePoints);
    }
  }
}
