#include "experiments/sweep/plots.h"

#include <cmath>
#include <filesystem>
#include <map>
#include <sstream>

#include "core/io/atomic_file.h"
#include "experiments/jobs/report_format.h"

namespace fs = std::filesystem;

namespace peer {

namespace {

// One curve with error bars per variant, x from column `xcol` of its .dat file.
std::string curves(const std::vector<const VariantSummary*>& vs, int xcol) {
  std::string s;
  for (const VariantSummary* v : vs)
    s += std::string(s.empty() ? "" : ", \\\n     ") + "'plots/" + v->name + ".dat' using " + std::to_string(xcol) +
         ":4:5 with yerrorlines linewidth 2 title '" + v->name + "'";
  return s;
}

std::string line_plot(const std::string& png, const std::string& title, const std::string& xlabel,
                      const std::vector<const VariantSummary*>& vs, int xcol) {
  return "set output '" + png + "'\nset title '" + title + "'\nset xlabel '" + xlabel +
         "'\nset ylabel 'validation loss (nats/token), mean +- std over seeds'\nplot " + curves(vs, xcol) + "\n";
}

std::string number(double v) { return std::isnan(v) ? std::string("NaN") : std::to_string(v); }

// Columns: step, tokens seen, training FLOPs, mean val loss, its std over seeds (0 for one
// seed), mean elapsed seconds. A step counts the seeds that evaluated at it.
std::string curve_data(const VariantSummary& v) {
  std::map<int64_t, std::pair<std::vector<double>, std::vector<double>>> at;  // step -> (losses, elapsed)
  for (const SweepRow* r : v.runs)
    for (const SweepRow::Point& p : r->val) {
      at[p.step].first.push_back(p.loss);
      if (!std::isnan(p.elapsed_s)) at[p.step].second.push_back(p.elapsed_s);
    }
  const SweepRow& r = v.first();
  const double tokens_per_step = double(r.config.train.batch_size * r.config.model.block_size);
  std::ostringstream dat;
  dat.precision(10);
  dat << "# " << v.name << " (" << v.runs.size() << " seeds): step tokens train_flops val_loss_mean val_loss_std "
      << "elapsed_s_mean\n";
  for (const auto& [step, x] : at) {
    const double sd = sample_std(x.first);
    dat << step << " " << double(step) * tokens_per_step << " " << double(step) * tokens_per_step * r.acc.train_flops()
        << " " << mean_of(x.first) << " " << (std::isnan(sd) ? 0.0 : sd) << " " << number(mean_of(x.second)) << "\n";
  }
  return dat.str();
}

}  // namespace

std::vector<std::string> write_sweep_plots(const std::vector<VariantSummary>& variants, const std::string& out_dir) {
  std::vector<const VariantSummary*> vs;
  for (const VariantSummary& v : variants) vs.push_back(&v);
  if (vs.empty()) return {};
  fs::create_directories(fs::path(out_dir) / "plots");
  for (const VariantSummary* v : vs)
    write_file_atomic((fs::path(out_dir) / "plots" / (v->name + ".dat")).string(), curve_data(*v));

  std::vector<std::string> pngs = {"val_loss_vs_tokens.png", "val_loss_vs_flops.png", "val_loss_vs_time.png",
                                   "final_val_loss_vs_granularity.png"};
  std::ostringstream gp, gdat;
  gp << "# Written by `peer run`; redraw with: cd <sweep folder> && gnuplot plots/plots.gp\n"
     << gnuplot_preamble() << "set key outside right top\nset format x '%.1s%c'\n"
     << "set offsets 0, 0, graph 0.05, graph 0.05\n"
     << line_plot(pngs[0], "Validation loss vs tokens seen", "tokens seen", vs, 2)
     << line_plot(pngs[1], "Validation loss vs training FLOPs (forward + backward)", "training FLOPs", vs, 3)
     << line_plot(pngs[2], "Validation loss vs wall time", "wall time (s)", vs, 6);

  // Final loss against G (dense: 1), mean +- std over seeds, labelled points.
  gdat << "# G final_val_loss_mean final_val_loss_std variant\n";
  for (const VariantSummary* v : vs)
    gdat << v->first().acc.granularity << " " << v->final_mean << " "
         << (std::isnan(v->final_std) ? 0.0 : v->final_std) << " " << v->name << "\n";
  write_file_atomic((fs::path(out_dir) / "plots" / "granularity.dat").string(), gdat.str());
  gp << "set output '" << pngs[3] << "'\nset title 'Final validation loss vs granularity'\n"
     << "set xlabel 'granularity G = active expert params / params of one expert (log scale; dense 1)'\n"
     << "set ylabel 'final validation loss (nats/token), mean +- std'\nset logscale x 2\nset format x '%g'\n"
     << "set offsets graph 0.15, graph 0.15, graph 0.2, graph 0.2\n"
     << "plot 'plots/granularity.dat' using 1:2:3 with yerrorbars pointtype 7 pointsize 1.8 title 'variants', \\\n"
     << "     '' using 1:2:4 with labels offset 0,1.2 notitle\n";
  if (!run_gnuplot(out_dir, gp.str())) return {};
  return pngs;
}

}  // namespace peer
