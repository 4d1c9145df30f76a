#include "experiments/lifelong/plots.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "core/io/atomic_file.h"
#include "experiments/jobs/report_format.h"

namespace fs = std::filesystem;

namespace peer {

namespace {

// Rows: phase 0 (before training) .. P; columns: phase, then the loss on each domain.
std::string loss_dat(const MethodRecord& r) {
  std::ostringstream s;
  s.precision(8);
  s << "# " << r.method << ": phase, then loss per domain\n0";
  for (double x : r.init_loss) s << " " << x;
  for (size_t i = 0; i < r.loss.size(); ++i) {
    s << "\n" << i + 1;
    for (double x : r.loss[i]) s << " " << x;
  }
  return s.str() + "\n";
}

// Phases 1..P only: the untrained model's loss (in the tables) would flatten every curve.
std::string phase_axis(const StreamData& d) {
  std::string t = "set xrange [0.7:" + std::to_string(d.domains.size()) + ".3]\nset xtics (";
  for (size_t i = 0; i < d.domains.size(); ++i)
    t += (i ? ", \"" : "\"") + std::to_string(i + 1) + " " + d.domains[i].name + "\" " + std::to_string(i + 1);
  return t + ") rotate by -20\n";
}

std::string loss_plot(const StreamData& d, const std::vector<MethodRecord>& done) {
  const size_t D = d.domains.size(), cols = D < 2 ? 1 : 2, rows = (D + cols - 1) / cols;
  std::ostringstream gp;
  gp << "set output 'loss_over_stream.png'\nset multiplot layout " << rows << "," << cols
     << " title 'Held-out loss on each domain after each phase (x: phase, and the domain the sequential methods trained on; joint: mixed)'\n"
     << phase_axis(d) << "set ylabel 'loss (nats/token)'\nset key top right\n";
  for (size_t j = 0; j < D; ++j) {
    gp << "set title 'domain " << j + 1 << ": " << d.domains[j].name << "'\nplot ";
    for (size_t m = 0; m < done.size(); ++m)
      gp << (m ? ", \\\n     " : "") << "'plots/" << done[m].method << ".dat' every ::1 using 1:" << j + 2
         << " with linespoints linewidth 2 title '" << done[m].method << "'";
    gp << "\n";
  }
  return gp.str() + "unset multiplot\nset xtics autofreq norotate\nset autoscale x\n";
}

// Matrix file: one row per pool, one column per domain.
std::string usage_dat(const MethodRecord& r) {
  const auto& last = r.pool_share.back();
  std::ostringstream s;
  for (size_t p = 0; p < last[0].size(); ++p) {
    for (size_t j = 0; j < last.size(); ++j) s << (j ? " " : "") << last[j][p];
    s << "\n";
  }
  return s.str();
}

std::string usage_plot(const StreamData& d, const MethodRecord& r, const std::string& png) {
  const size_t pools = size_t(r.last_pools());
  std::ostringstream gp;
  gp << "set output '" << png << "'\nset title '" << r.method
     << ": share of PEER retrievals per pool on each domain (after the last phase)'\nunset key\nset xtics (";
  for (size_t j = 0; j < d.domains.size(); ++j) gp << (j ? ", " : "") << "\"" << d.domains[j].name << "\" " << j;
  gp << ")\nset ytics (";
  for (size_t p = 0; p < pools; ++p) gp << (p ? ", " : "") << "\"" << pool_label(r, d, p) << "\" " << p;
  gp << ")\nset xlabel 'held-out text of domain'\nset ylabel 'expert pool (in order added)'\n"
     << "set cbrange [0:1]\nset palette defined (0 'white', 1 '#08306b')\nset xrange [-0.5:" << d.domains.size() - 0.5
     << "]\nset yrange [-0.5:" << pools - 0.5 << "]\nunset grid\n"
     << "plot 'plots/pool_usage_" << r.method << ".dat' matrix with image, \\\n     '' matrix using 1:2:(sprintf('%.0f%%', "
     << "100*$3)) with labels font ',12'\nset grid\nset key\nset autoscale\n";
  return gp.str();
}

}  // namespace

std::string pool_label(const MethodRecord& r, const StreamData& data, size_t pool) {
  const std::string label = "pool " + std::to_string(pool + 1);
  return r.method == "peer_freeze_add" && pool < data.domains.size() ? label + " (" + data.domains[pool].name + ")"
                                                                      : label;
}

std::vector<std::string> write_lifelong_plots(const StreamData& data, const std::vector<MethodRecord>& done,
                                              const std::string& out_dir) {
  if (done.empty()) return {};
  const fs::path plots = fs::path(out_dir) / "plots";
  fs::create_directories(plots);
  std::vector<std::string> pngs = {"loss_over_stream.png"};
  std::string gp = "# Written by `peer run`; redraw with: cd <experiment folder> && gnuplot plots/plots.gp\n" +
                   gnuplot_preamble(1200, 900) + "set termoption noenhanced\n";
  for (const MethodRecord& r : done) write_file_atomic((plots / (r.method + ".dat")).string(), loss_dat(r));
  gp += loss_plot(data, done);
  for (const MethodRecord& r : done) {
    if (r.last_pools() < 2) continue;
    pngs.push_back("pool_usage_" + r.method + ".png");
    write_file_atomic((plots / ("pool_usage_" + r.method + ".dat")).string(), usage_dat(r));
    gp += usage_plot(data, r, pngs.back());
  }
  if (!run_gnuplot(out_dir, gp)) return {};
  return pngs;
}

}  // namespace peer
