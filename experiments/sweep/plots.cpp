#include "experiments/sweep/plots.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "core/io/atomic_file.h"
#include "experiments/jobs/report_format.h"

namespace fs = std::filesystem;

namespace peer {

namespace {

// One "with linespoints" curve per finished variant, x from column `xcol` of its .dat file.
std::string curves(const std::vector<const SweepRow*>& rows, int xcol) {
  std::string s;
  for (const SweepRow* r : rows)
    s += std::string(s.empty() ? "" : ", \\\n     ") + "'plots/" + r->name + ".dat' using " + std::to_string(xcol) +
         ":4 with linespoints linewidth 2 title '" + r->name + "'";
  return s;
}

std::string line_plot(const std::string& png, const std::string& title, const std::string& xlabel,
                      const std::vector<const SweepRow*>& rows, int xcol) {
  return "set output '" + png + "'\nset title '" + title + "'\nset xlabel '" + xlabel +
         "'\nset ylabel 'validation loss (nats/token)'\nplot " + curves(rows, xcol) + "\n";
}

}  // namespace

std::vector<std::string> write_sweep_plots(const std::vector<SweepRow>& rows, const std::string& out_dir) {
  std::vector<const SweepRow*> done;
  for (const SweepRow& r : rows)
    if (r.finished && !r.val.empty()) done.push_back(&r);
  if (done.empty()) return {};
  fs::create_directories(fs::path(out_dir) / "plots");

  // Columns: step, tokens seen, training FLOPs, val loss, elapsed seconds.
  for (const SweepRow* r : done) {
    std::ostringstream dat;
    dat.precision(10);
    dat << "# " << r->name << ": step tokens train_flops val_loss elapsed_s\n";
    const double tokens_per_step = double(r->config.train.batch_size * r->config.model.block_size);
    for (const SweepRow::Point& p : r->val)
      dat << p.step << " " << double(p.step) * tokens_per_step << " "
          << double(p.step) * tokens_per_step * r->acc.train_flops() << " " << p.loss << " "
          << (std::isnan(p.elapsed_s) ? std::string("NaN") : std::to_string(p.elapsed_s)) << "\n";
    write_file_atomic((fs::path(out_dir) / "plots" / (r->name + ".dat")).string(), dat.str());
  }

  std::vector<std::string> pngs = {"val_loss_vs_tokens.png", "val_loss_vs_flops.png", "val_loss_vs_time.png"};
  std::ostringstream gp;
  gp << "# Written by `peer run`; redraw with: cd <sweep folder> && gnuplot plots/plots.gp\n"
     << gnuplot_preamble() << "set key outside right top\nset format x '%.1s%c'\n"
     << "set offsets 0, 0, graph 0.05, graph 0.05\n"
     << line_plot(pngs[0], "Validation loss vs tokens seen", "tokens seen", done, 2)
     << line_plot(pngs[1], "Validation loss vs training FLOPs (3 x forward)", "training FLOPs", done, 3)
     << line_plot(pngs[2], "Validation loss vs wall time", "wall time (s)", done, 5);

  // Final loss against G: MoE and PEER variants as labelled points, dense ones (no G) as lines.
  std::ostringstream gdat, dense;
  for (const SweepRow* r : done) {
    if (r->acc.granularity)
      gdat << *r->acc.granularity << " " << r->final_val_loss << " " << r->name << "\n";
    else
      dense << ", \\\n     " << r->final_val_loss << " with lines dashtype 2 linewidth 2 title '" << r->name
            << ": dense FFN, no G'";
  }
  if (!gdat.str().empty()) {
    write_file_atomic((fs::path(out_dir) / "plots" / "granularity.dat").string(), "# G final_val_loss variant\n" + gdat.str());
    pngs.push_back("final_val_loss_vs_granularity.png");
    gp << "set output '" << pngs.back() << "'\nset title 'Final validation loss vs granularity'\n"
       << "set xlabel 'granularity G = d_ff / d_expert (log scale; PEER: heads x top-k)'\n"
       << "set ylabel 'final validation loss (nats/token)'\nset logscale x 2\nset format x '%g'\n"
       << "set offsets graph 0.15, graph 0.15, graph 0.2, graph 0.2\n"
       << "plot 'plots/granularity.dat' using 1:2 with points pointtype 7 pointsize 1.8 title 'MoE / PEER', \\\n"
       << "     '' using 1:2:3 with labels offset 0,1.2 notitle" << dense.str() << "\n";
  }
  if (!run_gnuplot(out_dir, gp.str())) return {};
  return pngs;
}

}  // namespace peer
