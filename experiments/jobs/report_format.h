// Shared pieces of experiment reports (sweeps and lifelong streams): number formatting for the
// markdown tables, CSV quoting, and drawing a gnuplot script.
#pragma once

#include <string>

namespace peer {

std::string fmt(const char* printf_format, double v);
// 1234567 -> "1.23M": for markdown tables; the CSV files keep exact numbers.
std::string si(double v);
std::string csv_field(const std::string& s);

// Writes OUT/plots/plots.gp and runs it from OUT (so the plots can be redrawn by hand with
// `cd OUT && gnuplot plots/plots.gp`). Returns false, with a note on stderr, when gnuplot is
// missing or fails: plots never fail an experiment.
bool run_gnuplot(const std::string& out_dir, const std::string& script);
// The script's first lines: PNG terminal (pngcairo when there), grid, no enhanced text.
std::string gnuplot_preamble(int width = 1000, int height = 640);

}  // namespace peer
