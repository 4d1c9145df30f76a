#include "experiments/sweep/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/io/atomic_file.h"
#include "experiments/run/duration.h"
#include "experiments/run/provenance.h"
#include "experiments/jobs/report_format.h"
#include "experiments/sweep/plots.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace peer {

namespace {

std::string granularity(const SweepRow& r) { return r.acc.granularity ? fmt("%g", *r.acc.granularity) : ""; }

std::string results_csv(const std::vector<const SweepRow*>& rows) {
  std::ostringstream s;
  s << "variant,ffn,granularity,total_params,active_params_per_token,ffn_active_params_per_token,"
       "fwd_flops_per_token,train_flops_per_token,steps,tokens,training_flops,final_val_loss,best_val_loss,"
       "tokens_per_s,wall_s,peak_rss_mb,threads,device,commit,date\n";
  for (const SweepRow* r : rows)
    s << r->name << "," << r->config.model.ffn << "," << granularity(*r) << "," << r->acc.total_params << ","
      << r->acc.active_params << "," << r->acc.ffn_active_params << "," << fmt("%.0f", r->acc.forward_flops()) << ","
      << fmt("%.0f", r->acc.train_flops()) << "," << r->steps << "," << r->tokens << ","
      << fmt("%.6e", r->training_flops()) << "," << fmt("%.6f", r->final_val_loss) << ","
      << fmt("%.6f", r->best_val_loss) << "," << fmt("%.1f", r->tokens_per_s) << "," << fmt("%.1f", r->wall_s) << ","
      << fmt("%.1f", r->peak_rss_mb) << "," << r->threads << "," << csv_field(r->device) << ","
      << csv_field(r->commit) << "," << csv_field(r->date) << "\n";
  return s.str();
}

std::string results_table(const std::vector<const SweepRow*>& rows) {
  std::ostringstream s;
  s << "| rank | variant | ffn | G | params | active/token | FFN active/token | fwd FLOPs/token | "
       "train FLOPs/token | steps | tokens | training FLOPs | final val loss | best val loss | tokens/s | wall | "
       "peak RSS |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < rows.size(); ++i) {
    const SweepRow& r = *rows[i];
    const std::string b = i == 0 ? "**" : "";
    s << "| " << (i == 0 ? std::string("**1 (best)**") : std::to_string(i + 1)) << " | " << b << r.name << b << " | "
      << r.config.model.ffn << " | " << granularity(r) << " | " << si(double(r.acc.total_params)) << " | "
      << si(double(r.acc.active_params)) << " | " << si(double(r.acc.ffn_active_params)) << " | "
      << si(r.acc.forward_flops()) << " | " << si(r.acc.train_flops()) << " | " << r.steps << " | "
      << si(double(r.tokens)) << " | " << si(r.training_flops()) << " | " << b << fmt("%.4f", r.final_val_loss) << b
      << " | " << fmt("%.4f", r.best_val_loss) << " | " << fmt("%.0f", r.tokens_per_s) << " | " << duration(r.wall_s)
      << " | " << fmt("%.0f MB", r.peak_rss_mb) << " |\n";
  }
  return s.str();
}

// How far apart the variants' FFN active parameters per token are: what a granularity sweep holds fixed.
std::string matching_line(const std::vector<const SweepRow*>& rows) {
  auto [lo, hi] = std::minmax_element(rows.begin(), rows.end(), [](const SweepRow* a, const SweepRow* b) {
    return a->acc.ffn_active_params < b->acc.ffn_active_params;
  });
  double spread = 100.0 * double((*hi)->acc.ffn_active_params - (*lo)->acc.ffn_active_params) /
                  double((*lo)->acc.ffn_active_params);
  return "FFN active parameters per token range from " + si(double((*lo)->acc.ffn_active_params)) + " (" +
         (*lo)->name + ") to " + si(double((*hi)->acc.ffn_active_params)) + " (" + (*hi)->name + "): " +
         fmt("%.1f", spread) + "% apart.\n";
}

std::string report_md(const Experiment& e, const std::vector<SweepRow>& all, const std::vector<const SweepRow*>& done,
                      const std::vector<std::string>& pngs) {
  const Provenance now = current_provenance(e.base);
  std::ostringstream s;
  s << "# Sweep: " << e.path << "\n\n";
  if (!e.description.empty()) s << e.description << "\n\n";
  s << "- budget: " << e.budget.describe() << "\n- written: " << now.date << "\n- commit: " << now.commit
    << "\n- device: " << now.device << "\n- threads: " << now.threads << "\n\n";
  s << "## Results (sorted by final validation loss)\n\n";
  if (done.empty()) s << "No variant has finished yet.\n";
  else s << results_table(done) << "\n" << matching_line(done);
  std::string missing;
  for (const SweepRow& r : all)
    if (!r.finished) missing += (missing.empty() ? "" : ", ") + r.name;
  if (!missing.empty()) s << "\nNot finished: " << missing << " (run the same command again to continue).\n";

  s << "\nCounting rules (experiments/run/accounting.h): parameters include embeddings; active parameters per token "
       "exclude the embeddings and include routers, PEER query nets and sub-keys; FFN active counts expert weights "
       "only (top_k experts, PEER's h*k rows of U and V); FLOPs are 2 per multiply-add (plus PEER's candidate sums), "
       "attention over a full causal window; training FLOPs = 3 x forward; tokens = steps x batch x block.\n";
  if (!pngs.empty()) {
    s << "\n## Plots\n\n";
    for (const std::string& p : pngs) s << "![" << p << "](" << p << ")\n";
  }
  s << "\n## Variants\n\n";
  for (const SweepRow& r : all) {
    std::string sets;
    for (const std::string& x : r.sets) sets += (sets.empty() ? "" : ", ") + std::string("`") + x + "`";
    s << "- **" << r.name << "**: " << (sets.empty() ? "the base config" : sets)
      << (r.finished ? " (trained " + r.date + ", commit " + r.commit + ", " + r.device + ", " +
                           std::to_string(r.threads) + " threads)"
                     : " (not finished)")
      << "\n";
  }
  s << "\n## Resolved base config\n\n```toml\n" << to_toml(e.base) << "```\n";
  return s.str();
}

}  // namespace

void load_sweep_results(SweepRow& row, const std::string& dir) {
  const fs::path summary = fs::path(dir) / "summary.json";
  row.finished = fs::is_regular_file(summary);
  row.val.clear();
  if (!row.finished) return;
  json s = json::parse(read_file(summary.string()));
  row.steps = s.at("steps").get<int64_t>();
  row.tokens = s.at("tokens").get<int64_t>();
  row.final_val_loss = s.at("final_val_loss").get<double>();
  row.best_val_loss = s.at("best_val_loss").get<double>();
  row.tokens_per_s = s.at("tokens_per_s").get<double>();
  row.wall_s = s.at("wall_s").get<double>();
  row.peak_rss_mb = s.value("peak_rss_mb", 0.0);
  row.threads = s.value("threads", int64_t(0));
  row.device = s.value("device_name", s.value("device", std::string()));
  row.commit = s.value("commit", std::string("unknown"));
  row.date = s.value("date", std::string("unknown"));
  std::ifstream in(fs::path(dir) / "metrics.jsonl");
  std::string line;
  while (std::getline(in, line)) {
    json m = json::parse(line, nullptr, false);
    if (m.is_discarded() || m.value("split", "") != "val") continue;
    row.val.push_back({m.at("step").get<int64_t>(), m.at("loss").get<double>(), m.value("elapsed_s", NAN)});
  }
}

void write_sweep_report(const Experiment& e, const std::vector<SweepRow>& rows, const std::string& out_dir) {
  std::vector<const SweepRow*> done;
  for (const SweepRow& r : rows)
    if (r.finished) done.push_back(&r);
  std::stable_sort(done.begin(), done.end(),
                   [](const SweepRow* a, const SweepRow* b) { return a->final_val_loss < b->final_val_loss; });
  write_file_atomic((fs::path(out_dir) / "results.csv").string(), results_csv(done));
  std::vector<std::string> pngs = write_sweep_plots(rows, out_dir);
  write_file_atomic((fs::path(out_dir) / "report.md").string(), report_md(e, rows, done, pngs));
}

}  // namespace peer
