#include "experiments/jobs/report_format.h"

#include <absl/strings/str_cat.h>
#include <absl/strings/str_split.h>

#include <cmath>
#include <filesystem>
#include <iostream>

#include "core/io/atomic_file.h"
#include "experiments/run/interrupt.h"
#include "experiments/run/subprocess.h"

namespace fs = std::filesystem;

namespace peer {


std::string si(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  if (v == 0) return "0";
  // Round to 3 significant digits first, so that 999.5 becomes 1k rather than 1e+03.
  const double unit = std::pow(10.0, std::floor(std::log10(std::fabs(v))) - 2);
  v = std::round(v / unit) * unit;
  const char* suffixes[] = {"", "k", "M", "G", "T", "P", "E"};
  int s = 0;
  while (std::fabs(v) >= 999.5 && s < 6) v /= 1000.0, ++s;
  return absl::StrFormat("%.3g%s", v, suffixes[s]);
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string gnuplot_preamble(int width, int height) {
  // PDF in inches at 160 px per inch: a 1000 x 640 figure is 6.25 x 4 in, a paper's text width.
  return absl::StrFormat(
      "has(t) = strstrt(GPVAL_TERMINALS, t) > 0\n"
      "png_terminal = (has('pngcairo') ? \"pngcairo font 'sans,11'\" : 'png') . ' size %d,%d noenhanced'\n"
      "svg_terminal = \"svg size %d,%d font 'sans,11' noenhanced\"\n"
      "pdf_terminal = \"pdfcairo size %.2fin,%.2fin font 'sans,9' noenhanced\"\n"
      "formats = 'png' . (has('svg') ? ' svg' : '') . (has('pdfcairo') ? ' pdf' : '')\n"
      "terminal(ext) = ext eq 'png' ? png_terminal : ext eq 'svg' ? svg_terminal : pdf_terminal\n"
      "eval 'set terminal ' . png_terminal\nset grid\nset key inside top right\n",
      width, height, width, height, width / 160.0, height / 160.0);
}

std::string gnuplot_figure(const std::string& stem, const std::string& body) {
  std::string s = "do for [ext in formats] {\n  eval 'set terminal ' . terminal(ext)\n  set output '" + stem +
                  ".' . ext\n";
  for (absl::string_view line : absl::StrSplit(body, '\n', absl::SkipEmpty())) s += absl::StrCat("  ", line, "\n");
  return s + "}\nunset output\n";
}

std::string gnuplot_si_axis(const std::string& axis, double max) {
  if (!(max > 0) || std::isinf(max)) return "set autoscale " + axis + "\nset " + axis + "tics autofreq\n";
  const double raw = max / 8, mag = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * mag;
  for (double m : {1.0, 2.0, 5.0})
    if (m * mag >= raw) {
      step = m * mag;
      break;
    }
  const int n = int(std::ceil(max / step - 1e-9));
  std::string tics;
  for (int i = 0; i <= n; ++i) tics += absl::StrFormat("%s\"%s\" %.17g", i ? ", " : "", si(i * step), i * step);
  return absl::StrFormat("set %srange [0:%.17g]\nset %stics (%s)\n", axis, n * step, axis, tics);
}

bool run_gnuplot(const std::string& out_dir, const std::string& script) {
  fs::create_directories(fs::path(out_dir) / "plots");
  write_file_atomic((fs::path(out_dir) / "plots" / "plots.gp").string(), script);
  const bool found = run_program({"gnuplot", "--version"}, {"", "/dev/null", "/dev/null"}) == 0;
  const bool drawn = found && !interrupt_requested() &&
                     run_program({"gnuplot", "plots/plots.gp"}, {out_dir, "", "plots/gnuplot.log"}) == 0;
  if (drawn) return true;
  if (interrupt_requested())
    std::cerr << "[run] interrupted: no plots (redraw: cd " << out_dir << " && gnuplot plots/plots.gp)\n";
  else if (!found)
    std::cerr << "[run] gnuplot not found: no plots (data and script are in " << out_dir << "/plots)\n";
  else
    std::cerr << "[run] gnuplot failed (see " << out_dir << "/plots/gnuplot.log): no plots\n";
  return false;
}

}  // namespace peer
