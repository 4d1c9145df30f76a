#include "experiments/sweep/plots.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <map>

#include "core/io/atomic_file.h"
#include "experiments/jobs/report_format.h"

namespace fs = std::filesystem;

namespace peer {

namespace {

// One curve per variant: the mean over its seeds at each evaluated step. Columns of its .dat
// file: step, tokens seen, training FLOPs, mean val loss, its std over seeds (0 for one seed),
// mean elapsed seconds (NaN where no seed logged it). A step counts the seeds that evaluated at it.
struct Curve {
  const VariantSummary* v;
  std::vector<std::array<double, 6>> rows;
};

Curve curve(const VariantSummary& v) {
  std::map<int64_t, std::pair<std::vector<double>, std::vector<double>>> at;  // step -> (losses, elapsed)
  for (const SweepRow* r : v.runs)
    for (const SweepRow::Point& p : r->val) {
      at[p.step].first.push_back(p.loss);
      if (!std::isnan(p.elapsed_s)) at[p.step].second.push_back(p.elapsed_s);
    }
  const SweepRow& r = v.first();
  const double tokens_per_step = double(r.config.train.batch_size * r.config.model.block_size);
  Curve c{&v, {}};
  for (const auto& [step, x] : at) {
    const double sd = sample_std(x.first);
    c.rows.push_back({double(step), double(step) * tokens_per_step, double(step) * tokens_per_step * r.acc.train_flops(),
                      mean_of(x.first), std::isnan(sd) ? 0.0 : sd, mean_of(x.second)});
  }
  return c;
}

std::string curve_dat(const Curve& c) {
  std::string s = "# " + c.v->name + " (" + std::to_string(c.v->runs.size()) +
                  " seeds): step tokens train_flops val_loss_mean val_loss_std elapsed_s_mean\n";
  for (const auto& row : c.rows)
    s += absl::StrFormat("%.0f %.10g %.10g %.10g %.10g %.10g\n", row[0], row[1], row[2], row[3], row[4], row[5]);
  return s;
}

// The largest value of column `col` over every curve (NaNs skipped).
double column_max(const std::vector<Curve>& cs, int col) {
  double m = 0;
  for (const Curve& c : cs)
    for (const auto& row : c.rows)
      if (!std::isnan(row[col])) m = std::max(m, row[col]);
  return m;
}

// Validation loss against column `col` (1-based for gnuplot; 0-based in Curve rows: col - 1),
// one curve with error bars per variant.
std::string line_plot(const std::string& stem, const std::string& title, const std::string& xlabel,
                      const std::vector<Curve>& cs, int col) {
  std::string s = "set title '" + title + "'\nset xlabel '" + xlabel +
                  "'\nset ylabel 'validation loss (nats/token), mean +- std over seeds'\n" +
                  gnuplot_si_axis("x", column_max(cs, col - 1)) + "plot ";
  for (size_t i = 0; i < cs.size(); ++i)
    s += std::string(i ? ", \\\n     " : "") + "'plots/" + cs[i].v->name + ".dat' using " + std::to_string(col) +
         ":4:5 with yerrorlines linewidth 2 title '" + cs[i].v->name + "'";
  return gnuplot_figure(stem, s + "\n");
}

}  // namespace

std::vector<std::string> write_sweep_plots(const std::vector<VariantSummary>& variants, const std::string& out_dir) {
  if (variants.empty()) return {};
  fs::create_directories(fs::path(out_dir) / "plots");
  std::vector<Curve> cs;
  for (const VariantSummary& v : variants) {
    cs.push_back(curve(v));
    write_file_atomic((fs::path(out_dir) / "plots" / (v.name + ".dat")).string(), curve_dat(cs.back()));
  }
  const std::vector<std::string> stems = {"val_loss_vs_tokens", "val_loss_vs_flops", "val_loss_vs_time",
                                          "final_val_loss_vs_granularity"};
  std::string gp = "# Written by `peer run`; redraw with: cd <sweep folder> && gnuplot plots/plots.gp\n" +
                   gnuplot_preamble() + "set format y '%g'\nset offsets 0, 0, graph 0.05, graph 0.05\n" +
                   line_plot(stems[0], "Validation loss vs tokens seen", "tokens seen", cs, 2) +
                   line_plot(stems[1], "Validation loss vs training FLOPs (forward + backward)", "training FLOPs", cs, 3) +
                   line_plot(stems[2], "Validation loss vs wall time", "wall time (s)", cs, 6);

  // Final loss against G (dense: 1), mean +- std over seeds, each point labelled with its variant.
  std::string gdat = "# G final_val_loss_mean final_val_loss_std variant\n";
  for (const VariantSummary& v : variants)
    gdat += absl::StrFormat("%.10g %.10g %.10g %s\n", v.first().acc.granularity, v.final_mean,
                            std::isnan(v.final_std) ? 0.0 : v.final_std, v.name);
  write_file_atomic((fs::path(out_dir) / "plots" / "granularity.dat").string(), gdat);
  gp += gnuplot_figure(
      stems[3],
      "set title 'Final validation loss vs granularity'\n"
      "set xlabel 'granularity G = active expert params / params of one expert (log scale; dense 1)'\n"
      "set ylabel 'final validation loss (nats/token), mean +- std'\nset autoscale x\nset logscale x 2\n"
      "set xtics autofreq\nset format x '%g'\nset offsets graph 0.15, graph 0.15, graph 0.2, graph 0.2\nunset key\n"
      "plot 'plots/granularity.dat' using 1:2:3 with yerrorbars pointtype 7 pointsize 1.8, \\\n"
      "     '' using 1:2:4 with labels offset 0,1.2\n");
  if (!run_gnuplot(out_dir, gp)) return {};
  std::vector<std::string> pngs;
  for (const std::string& s : stems) pngs.push_back(s + ".png");
  return pngs;
}

}  // namespace peer
