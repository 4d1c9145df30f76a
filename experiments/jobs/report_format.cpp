#include "experiments/jobs/report_format.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>

#include "core/io/atomic_file.h"
#include "experiments/run/interrupt.h"
#include "experiments/run/subprocess.h"

namespace fs = std::filesystem;

namespace peer {

std::string fmt(const char* printf_format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, printf_format, v);
  return buf;
}

std::string si(double v) {
  const char* units[] = {"", "K", "M", "G", "T", "P", "E"};
  int u = 0;
  while (std::fabs(v) >= 1000.0 && u < 6) v /= 1000.0, ++u;
  return fmt(u == 0 ? "%.0f" : "%.3g", v) + units[u];
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string gnuplot_preamble(int width, int height) {
  const std::string size = std::to_string(width) + "," + std::to_string(height);
  return "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size " + size +
         " font 'sans,11' } else { set terminal png size " + size + " }\nset termoption noenhanced\nset grid\n";
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
