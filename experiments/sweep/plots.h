// Plots of a sweep, rendered by gnuplot as PNG, SVG and PDF (jobs/report_format.h): validation
// loss against tokens seen, training FLOPs and wall time (one curve per variant: the mean over
// its seeds, with +-1 standard deviation error bars), and final validation loss against
// granularity G. The data
// (OUT/plots/*.dat) and the script (OUT/plots/plots.gp) stay, so a plot can be restyled and
// redrawn with `cd OUT && gnuplot plots/plots.gp`.
#pragma once

#include <string>
#include <vector>

#include "experiments/sweep/summary.h"

namespace peer {

// Returns the PNG file names written into out_dir (each with its .svg and .pdf beside it); none
// (with a note on stderr) when gnuplot is missing or fails, which does not fail the sweep.
std::vector<std::string> write_sweep_plots(const std::vector<VariantSummary>& variants, const std::string& out_dir);

}  // namespace peer
