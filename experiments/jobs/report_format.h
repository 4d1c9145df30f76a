// Shared pieces of experiment reports (sweeps and lifelong streams): the one number formatter
// (absl::StrFormat underneath) for reports, progress lines and --plan, CSV quoting, and gnuplot
// scripts whose figures come out as PNG, SVG and PDF.
#pragma once

#include <absl/strings/str_format.h>

#include <string>

namespace peer {

// printf-style, type-checked by absl (%d takes any integer type; a mismatch gives "").
template <typename... Args>
std::string fmt(const absl::FormatSpec<Args...>& format, const Args&... args) {
  return absl::StrFormat(format, args...);
}
// Human-readable numbers for markdown tables, progress lines and --plan: 3 significant digits
// and an SI suffix: 0, 512, 999, 1k, 60k, 1.05M, 3T, -1.5k, 0.25, NaN. The CSV files keep exact
// numbers.
std::string si(double v);
std::string csv_field(const std::string& s);

// Writes OUT/plots/plots.gp and runs it from OUT (so the plots can be redrawn by hand with
// `cd OUT && gnuplot plots/plots.gp`). Returns false, with a note on stderr, when gnuplot is
// missing or fails: plots never fail an experiment.
bool run_gnuplot(const std::string& out_dir, const std::string& script);
// The script's first lines: grid, legend inside the plot area (top right), no enhanced text, the
// terminals of each format (PNG: pngcairo when there, else png; SVG; PDF: pdfcairo, skipped when
// gnuplot lacks it) and `formats`, the list gnuplot_figure draws; the PNG terminal is set.
std::string gnuplot_preamble(int width = 1000, int height = 640);
// One figure in each format: `body` (settings and plot commands, multiplot allowed) runs once
// per format, into STEM.png, STEM.svg and STEM.pdf (relative to OUT).
std::string gnuplot_figure(const std::string& stem, const std::string& body);
// Axis `axis` ("x" or "y") from 0 to past `max` with ticks at a round step (1, 2 or 5 x 10^k)
// labelled by si(): 0, 200k, 400k, ... (gnuplot's own "%.1s%c" gives 60.0k; "%.0s%c" 1M at 1.5M).
std::string gnuplot_si_axis(const std::string& axis, double max);

}  // namespace peer
