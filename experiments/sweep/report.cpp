#include "experiments/sweep/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <absl/strings/ascii.h>
#include <absl/strings/str_join.h>
#include <absl/strings/str_split.h>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/io/atomic_file.h"
#include "experiments/run/duration.h"
#include "experiments/run/provenance.h"
#include "experiments/jobs/report_format.h"
#include "experiments/sweep/plots.h"
#include "experiments/sweep/summary.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace peer {

namespace {

std::string granularity(const SweepRow& r) { return fmt("%g", r.acc.granularity); }

// One row per finished (variant, seed), in plan order (variants in file order, then seeds), so
// that it does not depend on which process ran which job.
std::string results_csv(const std::vector<SweepRow>& rows) {
  std::ostringstream s;
  s << "variant,seed,ffn,granularity,total_params,active_params_per_token,ffn_active_params_per_token,"
       "fwd_flops_per_token,bwd_flops_per_token,train_flops_per_token,steps,tokens,training_flops,final_val_loss,"
       "best_val_loss,tokens_per_s,wall_s,peak_rss_mb,threads,device,commit,date\n";
  for (const SweepRow& r : rows) {
    if (!r.finished) continue;
    s << r.name << "," << r.seed << "," << r.config.model.ffn << "," << granularity(r) << "," << r.acc.total_params
      << "," << r.acc.active_params << "," << r.acc.ffn_active_params << "," << fmt("%.0f", r.acc.forward_flops())
      << "," << fmt("%.0f", r.acc.backward_flops()) << "," << fmt("%.0f", r.acc.train_flops()) << "," << r.steps
      << "," << r.tokens << "," << fmt("%.6e", r.training_flops()) << "," << fmt("%.6f", r.final_val_loss) << ","
      << fmt("%.6f", r.best_val_loss) << "," << fmt("%.1f", r.tokens_per_s) << "," << fmt("%.1f", r.wall_s) << ","
      << fmt("%.1f", r.peak_rss_mb) << "," << r.threads << "," << csv_field(r.device) << "," << csv_field(r.commit)
      << "," << csv_field(r.date) << "\n";
  }
  return s.str();
}

std::string csv_number(double v) { return std::isnan(v) ? "" : fmt("%.6f", v); }

std::string summary_csv(const std::vector<VariantSummary>& vs) {
  std::ostringstream s;
  s << "variant,ffn,granularity,seeds,final_val_loss_mean,final_val_loss_std,best_val_loss_mean,best_val_loss_std,"
       "tokens,training_flops,verdict\n";
  for (const VariantSummary& v : vs)
    s << v.name << "," << v.first().config.model.ffn << "," << granularity(v.first()) << "," << v.runs.size() << ","
      << csv_number(v.final_mean) << "," << csv_number(v.final_std) << "," << csv_number(v.best_mean) << ","
      << csv_number(v.best_std) << "," << fmt("%.0f", v.tokens) << "," << fmt("%.6e", v.training_flops) << ","
      << v.verdict << "\n";
  return s.str();
}

std::string accounting_csv(const std::vector<VariantSummary>& vs) {
  std::ostringstream s;
  s << "variant,part,fwd_flops_per_token,bwd_flops_per_token\n";
  for (const VariantSummary& v : vs)
    for (int p = 0; p < kParts; ++p)
      s << v.name << "," << part_name(Part(p)) << "," << fmt("%.0f", v.first().acc.flops[p].fwd) << ","
        << fmt("%.0f", v.first().acc.flops[p].bwd) << "\n";
  return s.str();
}

std::string pm(double mean, double sd) { return fmt("%.4f", mean) + (std::isnan(sd) ? "" : fmt(" ± %.4f", sd)); }

std::string loss_table(const std::vector<VariantSummary>& vs) {
  std::ostringstream s;
  s << "| rank | variant | ffn | G | seeds | final val loss | best val loss | verdict | tokens | training FLOPs | "
       "params | FFN active/token | train FLOPs/token | tokens/s | wall |\n"
       "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < vs.size(); ++i) {
    const VariantSummary& v = vs[i];
    const Accounting& a = v.first().acc;
    const std::string b = v.verdict == "best" ? "**" : "";
    s << "| " << i + 1 << " | " << b << v.name << b << " | " << v.first().config.model.ffn << " | "
      << granularity(v.first()) << " | " << v.runs.size() << " | " << b << pm(v.final_mean, v.final_std) << b << " | "
      << pm(v.best_mean, v.best_std) << " | " << b << v.verdict << b << " | " << si(v.tokens) << " | "
      << si(v.training_flops) << " | " << si(double(a.total_params)) << " | " << si(double(a.ffn_active_params))
      << " | " << si(a.train_flops()) << " | " << si(v.tokens_per_s) << " | " << duration(v.wall_s) << " |\n";
  }
  return s.str();
}

// The variants with the least and the most of `what`.
std::pair<const VariantSummary*, const VariantSummary*> extremes(const std::vector<VariantSummary>& vs,
                                                                 double VariantSummary::*what) {
  auto [lo, hi] = std::minmax_element(vs.begin(), vs.end(),
                                      [&](const VariantSummary& a, const VariantSummary& b) { return a.*what < b.*what; });
  return {&*lo, &*hi};
}

// "## At equal training FLOPs" or "## At equal tokens": the table when every variant trained on
// the same amount of it (within 1%: an iso-FLOP budget rounds each variant down to whole steps),
// otherwise why not.
std::string comparison(const std::vector<VariantSummary>& vs, double VariantSummary::*what, const std::string& title,
                       const std::string& noun, const std::string& budget_key) {
  std::ostringstream s;
  s << "## At equal " << title << "\n\n";
  auto [lo, hi] = extremes(vs, what);
  if (lo->*what > 0 && hi->*what / (lo->*what) - 1.0 <= 0.01) return s.str() + loss_table(vs) + "\n";
  s << "Not compared: the variants trained on different " << noun << " (" << si(lo->*what) << ", " << lo->name
    << ", to " << si(hi->*what) << ", " << hi->name << "). A loss read at equal " << noun
    << " would come from part-way through some variants' learning-rate schedules; to compare at equal " << noun
    << ", run the sweep with `" << budget_key << "` as its budget.\n\n";
  return s.str();
}

std::string flop_split_table(const std::vector<VariantSummary>& vs) {
  std::ostringstream s;
  s << "FLOPs per token, forward / backward (training = forward + backward):\n\n| variant | G |";
  for (int p = 0; p < kParts; ++p) s << " " << part_name(Part(p)) << " |";
  s << " forward | backward | training |\n|---|---|";
  for (int p = 0; p < kParts + 3; ++p) s << "---|";
  s << "\n";
  for (const VariantSummary& v : vs) {
    const Accounting& a = v.first().acc;
    s << "| " << v.name << " | " << granularity(v.first()) << " |";
    for (const Flops& f : a.flops) s << " " << (f.fwd == 0 && f.bwd == 0 ? "-" : si(f.fwd) + " / " + si(f.bwd)) << " |";
    s << " " << si(a.forward_flops()) << " | " << si(a.backward_flops()) << " | " << si(a.train_flops()) << " |\n";
  }
  return s.str();
}

std::string runs_table(const std::vector<SweepRow>& rows) {
  std::ostringstream s;
  s << "| variant | seed | steps | tokens | final val loss | best val loss | tokens/s | wall | peak RSS | trained |\n"
       "|---|---|---|---|---|---|---|---|---|---|\n";
  for (const SweepRow& r : rows)
    if (r.finished)
      s << "| " << r.name << " | " << r.seed << " | " << r.steps << " | " << si(double(r.tokens)) << " | "
        << fmt("%.4f", r.final_val_loss) << " | " << fmt("%.4f", r.best_val_loss) << " | "
        << si(r.tokens_per_s) << " | " << duration(r.wall_s) << " | " << fmt("%.0f MB", r.peak_rss_mb)
        << " | " << r.date << ", " << r.commit << ", " << r.device << ", " << r.threads << " threads |\n";
  return s.str();
}

// How far apart the variants' FFN active parameters per token are: what a granularity sweep holds fixed.
std::string matching_line(const std::vector<VariantSummary>& vs) {
  auto [lo, hi] = std::minmax_element(vs.begin(), vs.end(), [](const VariantSummary& a, const VariantSummary& b) {
    return a.first().acc.ffn_active_params < b.first().acc.ffn_active_params;
  });
  const double l = double(lo->first().acc.ffn_active_params), h = double(hi->first().acc.ffn_active_params);
  return "FFN active parameters per token range from " + si(l) + " (" + lo->name + ") to " + si(h) + " (" + hi->name +
         "): " + fmt("%.1f", 100.0 * (h - l) / l) + "% apart.\n";
}

// Per variant, in plan order: its overrides, steps, tokens and evaluations (with a note when its
// loss curves get fewer than kMinCurvePoints points).
std::string variants_list(const std::vector<SweepRow>& rows) {
  std::string s;
  for (size_t i = 0; i < rows.size(); ++i) {
    const SweepRow& r = rows[i];
    if (i > 0 && rows[i - 1].name == r.name) continue;
    std::string sets;
    for (const std::string& x : r.sets) sets += (sets.empty() ? "`" : ", `") + x + "`";
    const int64_t steps = r.config.total_steps();
    s += fmt("- **%s**: %s; %d steps, %s tokens, %d evaluations (every %d steps)", r.name,
             sets.empty() ? "the base config" : sets, steps,
             si(double(steps * r.config.train.batch_size * r.config.model.block_size)), r.evaluations(),
             r.config.train.eval_every);
    if (r.evaluations() < kMinCurvePoints)
      s += fmt(": fewer than %d points per loss curve (lower train.eval_every to at most %d)", kMinCurvePoints,
               std::max<int64_t>(1, steps / kMinCurvePoints));
    s += "\n";
  }
  return s;
}

// The config every job ran, key by key (to_toml lists the same keys in the same order for every
// config): `key = value` where all jobs agree; where they differ (a variant's override, the
// budget's train.steps, the seed) a comment with each value and its variants, so the report never
// shows a base value (say the base's steps = 3000 under a FLOP budget) that no job ran.
std::string config_as_run(const std::vector<SweepRow>& rows) {
  std::vector<std::vector<std::string>> lines;  // [job][line]
  for (const SweepRow& r : rows) lines.push_back(absl::StrSplit(to_toml(r.config), '\n', absl::SkipEmpty()));
  std::string out;
  for (size_t i = 0; !lines.empty() && i < lines[0].size(); ++i) {
    std::vector<std::pair<std::string, std::vector<std::string>>> by_value;  // line -> its variants, first seen first
    for (size_t j = 0; j < rows.size(); ++j) {
      auto it = std::find_if(by_value.begin(), by_value.end(), [&](const auto& b) { return b.first == lines[j][i]; });
      if (it == by_value.end()) it = by_value.insert(by_value.end(), {lines[j][i], {}});
      if (std::find(it->second.begin(), it->second.end(), rows[j].name) == it->second.end())
        it->second.push_back(rows[j].name);
    }
    const std::string& line = lines[0][i];
    if (line.front() == '[') out += (i ? "\n" : "") + line + "\n";
    else if (by_value.size() == 1) out += line + "\n";
    else {
      const size_t eq = line.find(" = ");
      out += "# " + line.substr(0, eq) + " differs:";
      for (const auto& [l, names] : by_value)
        out += " " + l.substr(l.find(" = ") + 3) + " (" + absl::StrJoin(names, ", ") + ")" +
               (&l == &by_value.back().first ? "" : ";");
      out += "\n";
    }
  }
  return out;
}

const char* kRules =
    "Mean ± sample standard deviation over the seeds. A variant is **best** only where its mean final validation "
    "loss beats every other's by more than the two variants' spread (the sum of their standard deviations); the "
    "leader and every variant within that spread of it are **tied** (with one seed there is no spread: tied).\n\n"
    "Counting rules (experiments/run/accounting.h): parameters include embeddings; active parameters per token "
    "exclude the embeddings and include routers, PEER query nets and sub-keys; FFN active counts expert weights only "
    "(top_k experts, PEER's h*k rows of U and V); G = active expert parameters / parameters of one expert (dense 1, "
    "MoE top_k, PEER heads x top_k); FLOPs are 2 per multiply-add (plus PEER's candidate sums and MoE dispatch "
    "work), attention over a full causal window, forward and backward counted apart from what the code computes "
    "(a GEMM's backward is dX and dW; PEER's backward touches only the retrieved sub-keys and expert rows); training "
    "FLOPs = forward + backward; tokens = steps x batch x block.\n";

std::string report_md(const Experiment& e, const std::vector<SweepRow>& rows, const std::vector<VariantSummary>& vs,
                      const std::vector<std::string>& pngs, const std::string& out_dir) {
  const Provenance now = current_provenance(e.base);
  std::ostringstream s;
  s << "# Sweep: " << e.path << "\n\n";
  if (!e.description.empty()) s << e.description << "\n\n";
  std::string seeds;
  for (int64_t x : e.seeds) seeds += (seeds.empty() ? "" : ", ") + std::to_string(x);
  s << "- budget: " << e.budget.describe() << "\n- seeds: " << (seeds.empty() ? "each variant's train.seed" : seeds)
    << "\n- written: " << now.date << "\n- commit: " << now.commit << "\n- device: " << now.device
    << "\n- threads: " << now.threads << "\n\n";
  if (vs.empty()) s << "No variant has finished yet.\n\n";
  else
    s << comparison(vs, &VariantSummary::training_flops, "training FLOPs", "numbers of training FLOPs", "flops = F")
      << comparison(vs, &VariantSummary::tokens, "tokens", "numbers of tokens", "tokens = N") << matching_line(vs)
      << "\n";
  std::string missing;
  for (const SweepRow& r : rows)
    if (!r.finished) missing += (missing.empty() ? "" : ", ") + r.name + " seed " + std::to_string(r.seed);
  if (!missing.empty()) s << "Not finished: " << missing << " (run the same command again to continue).\n\n";
  s << kRules;
  if (!vs.empty()) s << "\n## FLOPs per token by component\n\n" << flop_split_table(vs);
  if (!pngs.empty()) {
    std::string vector_formats;  // what gnuplot could write beside the PNGs (PDF needs pdfcairo)
    for (const char* ext : {"svg", "pdf"})
      if (fs::exists(fs::path(out_dir) / fs::path(pngs[0]).replace_extension(ext)))
        vector_formats += (vector_formats.empty() ? "" : " and ") + absl::AsciiStrToUpper(ext);
    s << "\n## Plots\n\nMean over seeds; error bars: ± one standard deviation."
      << (vector_formats.empty() ? "" : " Each plot is also in " + vector_formats + " beside its PNG (same name).")
      << " Redraw or restyle: `gnuplot plots/plots.gp` in this folder.\n\n";
    for (const std::string& p : pngs) s << "![" << p << "](" << p << ")\n";
  }
  if (!vs.empty()) s << "\n## Runs\n\n" << runs_table(rows);
  s << "\n## Variants\n\n" << variants_list(rows) << "\n## Config as run\n\n"
    << "Every key as the jobs ran it (budget and seeds applied): a key set the same for every job is shown as set; a "
       "key that differs between jobs is a comment with each value and the variants that ran it.\n\n```toml\n"
    << config_as_run(rows) << "```\n";
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
  const std::vector<VariantSummary> vs = summarize_variants(rows);
  write_file_atomic((fs::path(out_dir) / "results.csv").string(), results_csv(rows));
  write_file_atomic((fs::path(out_dir) / "results_summary.csv").string(), summary_csv(vs));
  write_file_atomic((fs::path(out_dir) / "accounting.csv").string(), accounting_csv(vs));
  std::vector<std::string> pngs = write_sweep_plots(vs, out_dir);
  write_file_atomic((fs::path(out_dir) / "report.md").string(), report_md(e, rows, vs, pngs, out_dir));
}

}  // namespace peer
