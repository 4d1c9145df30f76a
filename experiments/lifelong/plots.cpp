#include "experiments/lifelong/plots.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <sstream>

#include "core/io/atomic_file.h"
#include "experiments/jobs/report_format.h"

namespace fs = std::filesystem;

namespace peer {

namespace {

// Rows: phases 1..P; columns: phase, then per domain the mean, lowest and highest loss over seeds.
std::string loss_dat(const MethodResults& r) {
  std::ostringstream s;
  s.precision(8);
  s << "# " << r.spec->name << ": phase, then per domain: mean, min, max over seeds";
  for (size_t i = 0; i < r.loss.size(); ++i) {
    s << "\n" << i + 1;
    for (size_t j = 0; j < r.loss[i].size(); ++j) {
      double lo = r.seeds[0]->loss[i][j], hi = lo;
      for (const MethodRecord* x : r.seeds) lo = std::min(lo, x->loss[i][j]), hi = std::max(hi, x->loss[i][j]);
      s << " " << r.loss[i][j] << " " << lo << " " << hi;
    }
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

std::string loss_plot(const StreamData& d, const std::vector<MethodResults>& done) {
  const size_t D = d.domains.size(), cols = D < 2 ? 1 : 2, rows = (D + cols - 1) / cols;
  std::ostringstream gp;
  gp << "set output 'loss_over_stream.png'\nset multiplot layout " << rows << "," << cols
     << " title 'Held-out loss after each phase (line: mean over seeds; band: lowest to highest seed)'\n"
     << phase_axis(d) << "set ylabel 'loss (nats/token)'\nset key top right font ',8'\nset style fill transparent solid 0.15 noborder\n";
  for (size_t j = 0; j < D; ++j) {
    gp << "set title 'domain " << j + 1 << ": " << d.domains[j].name << "'\nplot ";
    for (size_t m = 0; m < done.size(); ++m) {
      const std::string file = "'plots/" + done[m].spec->name + ".dat'";
      gp << (m ? ", \\\n     " : "") << file << " using 1:" << 3 * j + 3 << ":" << 3 * j + 4
         << " with filledcurves linecolor " << m + 1 << " notitle, \\\n     " << file << " using 1:" << 3 * j + 2
         << " with linespoints linecolor " << m + 1 << " dashtype " << m / 8 + 1 << " linewidth 2 title '"
         << done[m].spec->name << "'";
    }
    gp << "\n";
  }
  return gp.str() + "unset multiplot\nset xtics autofreq norotate\nset autoscale x\nset style fill solid\n";
}

// Matrix file: one row per pool, one column per domain.
std::string usage_dat(const MethodResults& r) {
  std::ostringstream s;
  for (size_t p = 0; p < r.share[0].size(); ++p) {
    for (size_t j = 0; j < r.share.size(); ++j) s << (j ? " " : "") << r.share[j][p];
    s << "\n";
  }
  return s.str();
}

std::string usage_plot(const Experiment& e, const StreamData& d, const MethodResults& r, const std::string& png) {
  const size_t pools = r.share[0].size();
  std::ostringstream gp;
  gp << "set output '" << png << "'\nset title '" << r.spec->name
     << ": share of PEER retrievals per pool on each domain (after the last phase, mean over seeds)'\nunset key\nset xtics (";
  for (size_t j = 0; j < d.domains.size(); ++j) gp << (j ? ", " : "") << "\"" << d.domains[j].name << "\" " << j;
  gp << ")\nset ytics (";
  for (size_t p = 0; p < pools; ++p) gp << (p ? ", " : "") << "\"" << pool_label(e, d, *r.spec, p) << "\" " << p;
  gp << ")\nset xlabel 'held-out text of domain'\nset ylabel 'expert pool (in order added)'\n"
     << "set cbrange [0:1]\nset palette defined (0 'white', 1 '#08306b')\nset xrange [-0.5:" << d.domains.size() - 0.5
     << "]\nset yrange [-0.5:" << pools - 0.5 << "]\nunset grid\n"
     << "plot 'plots/pool_usage_" << r.spec->name << ".dat' matrix with image, \\\n     '' matrix using 1:2:(sprintf('%.0f%%', "
     << "100*$3)) with labels font ',12'\nset grid\nset key\nset autoscale\n";
  return gp.str();
}

}  // namespace

std::string pool_label(const Experiment& e, const StreamData& data, const MethodSpec& m, size_t pool) {
  const std::string label = "pool " + std::to_string(pool + 1);
  if (!m.add_pools) return label;
  const bool pre = e.lifelong.pretrain_tokens > 0;
  if (pre && pool == 0) return label + " (pretrain)";
  const size_t domain = pool - (pre ? 1 : 0);
  return domain < data.domains.size() ? label + " (" + data.domains[domain].name + ")" : label;
}

std::vector<std::string> write_lifelong_plots(const Experiment& e, const StreamData& data,
                                              const std::vector<MethodResults>& done, const std::string& out_dir) {
  if (done.empty()) return {};
  const fs::path plots = fs::path(out_dir) / "plots";
  fs::create_directories(plots);
  std::vector<std::string> pngs = {"loss_over_stream.png"};
  std::string gp = "# Written by `peer run`; redraw with: cd <experiment folder> && gnuplot plots/plots.gp\n" +
                   gnuplot_preamble(1200, 900) + "set termoption noenhanced\n";
  for (const MethodResults& r : done) write_file_atomic((plots / (r.spec->name + ".dat")).string(), loss_dat(r));
  gp += loss_plot(data, done);
  for (const MethodResults& r : done) {
    if (r.share[0].size() < 2) continue;
    pngs.push_back("pool_usage_" + r.spec->name + ".png");
    write_file_atomic((plots / ("pool_usage_" + r.spec->name + ".dat")).string(), usage_dat(r));
    gp += usage_plot(e, data, r, pngs.back());
  }
  if (!run_gnuplot(out_dir, gp)) return {};
  return pngs;
}

}  // namespace peer
