#include "experiments/lifelong/report.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "core/io/atomic_file.h"
#include "experiments/lifelong/plots.h"
#include "experiments/run/duration.h"
#include "experiments/run/provenance.h"
#include "experiments/jobs/report_format.h"

namespace fs = std::filesystem;

namespace peer {

namespace {

const Job& method_of(const Experiment& e, const std::string& name) {
  for (const Job& v : e.jobs)
    if (v.name == name) return v;
  return e.jobs.front();  // records come from e.jobs, so this is never reached
}

std::string num(double v, const char* f = "%.4f") { return std::isnan(v) ? "-" : fmt(f, v); }

std::string results_csv(const Experiment& e, const std::vector<MethodRecord>& done) {
  std::ostringstream s;
  s << "method,ffn,phases,final_loss,avg_forgetting,backward_transfer,forward_transfer,params_first_phase,"
       "params_last_phase,trainable_last_phase,tokens_trained,tokens_per_s,train_s\n";
  for (const MethodRecord& r : done) {
    const StreamMetrics m = stream_metrics(r.init_loss, r.loss);
    s << r.method << "," << method_of(e, r.method).config.model.ffn << "," << r.phases_done << ","
      << num(m.final_loss, "%.6f") << "," << num(m.forgetting, "%.6f") << "," << num(m.backward_transfer, "%.6f") << ","
      << num(m.forward_transfer, "%.6f") << "," << r.params.front() << "," << r.params.back() << ","
      << r.trainable.back() << "," << r.tokens_trained << "," << fmt("%.1f", double(r.tokens_trained) / r.train_s) << ","
      << fmt("%.1f", r.train_s) << "\n";
  }
  return s.str();
}

std::string loss_matrix_csv(const StreamData& d, const std::vector<MethodRecord>& records) {
  std::ostringstream s;
  s << "method,phase,trained_on,domain,loss\n";
  for (const MethodRecord& r : records) {
    for (size_t j = 0; j < r.init_loss.size(); ++j)
      s << r.method << ",0,," << d.domains[j].name << "," << fmt("%.6f", r.init_loss[j]) << "\n";
    for (size_t i = 0; i < r.loss.size(); ++i)
      for (size_t j = 0; j < r.loss[i].size(); ++j)
        s << r.method << "," << i + 1 << "," << (r.method == "joint" ? "all" : d.domains[i].name) << ","
          << d.domains[j].name << "," << fmt("%.6f", r.loss[i][j]) << "\n";
  }
  return s.str();
}

std::string pool_usage_csv(const StreamData& d, const std::vector<MethodRecord>& records) {
  std::ostringstream s;
  s << "method,phase,domain,pool,share\n";
  for (const MethodRecord& r : records)
    for (size_t i = 0; i < r.pool_share.size(); ++i)
      for (size_t j = 0; j < r.pool_share[i].size(); ++j)
        for (size_t p = 0; p < r.pool_share[i][j].size(); ++p)
          s << r.method << "," << i + 1 << "," << d.domains[j].name << "," << p << ","
            << fmt("%.6f", r.pool_share[i][j][p]) << "\n";
  return s.str();
}

std::string setup_md(const Experiment& e, const StreamData& d) {
  const LifelongSpec& l = e.lifelong;
  std::ostringstream s;
  s << "## Setup\n\n| # | domain | text | train tokens | held-out tokens | scored after each phase |\n"
       "|---|---|---|---|---|---|\n";
  for (size_t i = 0; i < d.domains.size(); ++i) {
    const Domain& dom = l.domains[i];
    std::string text;
    for (const auto& g : dom.data.genres) text += (text.empty() ? "Brown " : ", ") + g;
    for (const auto& f : dom.data.files) text += (text.empty() ? "" : ", ") + f;
    s << "| " << i + 1 << " | " << dom.name << " | " << text << " | " << d.domains[i].train.size() << " | "
      << d.domains[i].val.size() << " | " << d.domains[i].eval.size() - 1 << " |\n";
  }
  Config c = e.base;
  c.train.tokens = l.tokens_per_phase;
  const int64_t per_step = c.train.batch_size * c.model.block_size, steps = c.total_steps();
  s << "\n- Each phase trains on tokens_per_phase = " << l.tokens_per_phase
    << " tokens rounded up to whole steps (base shape: " << steps << " steps of " << c.train.batch_size << " x "
    << c.model.block_size << " = " << steps * per_step
    << " tokens), reading every token once: the start of the phase's domain, in " << c.train.batch_size
    << " parallel lanes. joint reads the same tokens of all domains, shuffled, over as many phases.\n"
    << "- Learning rate: per phase, " << c.train.warmup_steps << " warmup steps then cosine from " << c.train.lr
    << " to " << c.train.lr * c.train.min_lr_ratio << "; AdamW moments carry over between phases.\n"
    << "- peer_freeze_add: at each new domain every expert pool is frozen (no gradient, no optimizer state) and a "
    << l.pool.n1 << "x" << l.pool.n2 << " pool is added to every PEER layer; query networks "
    << (l.freeze_query ? "frozen" : "still trained") << "; weights outside the PEER layers "
    << (l.freeze_non_expert ? "frozen" : "still trained") << ".\n"
    << "- Losses are mean nats per token over each domain's held-out text (the end of the domain, "
    << c.data.val_fraction << " of it), cut into consecutive windows of " << c.model.block_size << " tokens.\n\n"
    << "| method | FFN | overrides |\n|---|---|---|\n";
  for (const Job& v : e.jobs) {
    std::string sets;
    for (size_t i = 1; i < v.sets.size(); ++i) sets += (sets.empty() ? "" : ", ") + std::string("`") + v.sets[i] + "`";
    s << "| " << v.name << " | " << v.config.model.ffn << " | " << (sets.empty() ? "-" : sets) << " |\n";
  }
  return s.str();
}

std::string params_per_phase(const MethodRecord& r) {
  std::string s;
  for (size_t i = 0; i < r.params.size(); ++i) {
    if (i > 0 && r.params[i] == r.params[i - 1]) continue;
    s += (s.empty() ? "" : " -> ") + si(double(r.params[i]));
  }
  return s;
}

std::string summary_md(const Experiment& e, const std::vector<MethodRecord>& done) {
  std::ostringstream s;
  s << "| method | FFN | final loss (mean over domains) | avg forgetting | backward transfer | forward transfer | "
       "params | trained params, last phase | tokens/s | training time |\n|---|---|---|---|---|---|---|---|---|---|\n";
  for (const MethodRecord& r : done) {
    const StreamMetrics m = stream_metrics(r.init_loss, r.loss);
    s << "| " << r.method << " | " << method_of(e, r.method).config.model.ffn << " | " << num(m.final_loss) << " | "
      << num(m.forgetting) << " | " << num(m.backward_transfer) << " | " << num(m.forward_transfer) << " | "
      << params_per_phase(r) << " | " << si(double(r.trainable.back())) << " | "
      << fmt("%.0f", double(r.tokens_trained) / r.train_s) << " | " << duration(r.train_s) << " |\n";
  }
  s << "\nR[i][j] is the loss on domain j after phase i. Final loss: mean of the last row. Average forgetting: "
       "over every domain but the last, final loss minus the best loss of any earlier phase (higher = more "
       "forgotten). Backward transfer: mean of R[j][j] - R[last][j] (negative = forgetting). Forward transfer: mean "
       "of (loss before any training - R[j-1][j]) over domains after the first (how much earlier domains help an "
       "unseen one). For joint the phases are mixed data, so its forgetting and transfer only show how its loss "
       "moved.\n";
  return s.str();
}

const MethodRecord* find(const std::vector<MethodRecord>& done, const std::string& name) {
  for (const MethodRecord& r : done)
    if (r.method == name) return &r;
  return nullptr;
}

// peer_freeze_add against the sequential baselines, in words, whatever the numbers say.
std::string comparison_md(const std::vector<MethodRecord>& done) {
  const MethodRecord* fa = find(done, "peer_freeze_add");
  if (!fa) return "";
  const StreamMetrics a = stream_metrics(fa->init_loss, fa->loss);
  std::ostringstream s;
  for (const char* other : {"dense", "peer", "moe", "joint"}) {
    const MethodRecord* o = find(done, other);
    if (!o) continue;
    const StreamMetrics b = stream_metrics(o->init_loss, o->loss);
    s << "- against **" << other << "**: average forgetting " << num(a.forgetting) << " vs " << num(b.forgetting);
    if (!std::isnan(a.forgetting))
      s << " (" << (a.forgetting < b.forgetting ? "less" : a.forgetting > b.forgetting ? "more" : "the same") << ", "
        << fmt("%+.4f", a.forgetting - b.forgetting) << ")";
    s << "; final mean loss " << num(a.final_loss) << " vs " << num(b.final_loss) << " ("
      << (a.final_loss < b.final_loss ? "lower" : a.final_loss > b.final_loss ? "higher" : "the same") << ", "
      << fmt("%+.4f", a.final_loss - b.final_loss) << ") with " << si(double(fa->params.back())) << " vs "
      << si(double(o->params.back())) << " parameters.\n";
  }
  return s.str().empty() ? "" : "## peer_freeze_add against the baselines\n\n" + s.str() + "\n";
}

std::string frozen_md(const std::vector<MethodRecord>& done) {
  std::ostringstream s;
  for (const MethodRecord& r : done)
    if (!r.frozen_crc.empty())
      s << "Frozen weights of " << r.method << ": the CRC-32 of each of its " << r.frozen_crc.size()
        << " frozen tensors, taken when it was frozen, matched after every later phase (bit-identical).\n\n";
  return s.str();
}

// The head of a table with one column per domain: "| first | press | ... |" and its rule.
std::string domain_table_head(const StreamData& d, const std::string& first) {
  std::string s = "| " + first + " |", rule = "\n|---|";
  for (const DomainText& t : d.domains) s += " " + t.name + " |", rule += "---|";
  return s + rule;
}

std::string matrix_md(const StreamData& d, const MethodRecord& r) {
  std::ostringstream s;
  s << "### " << r.method << "\n\n" << domain_table_head(d, "after") << "\n| (before training) |";
  for (double x : r.init_loss) s << " " << num(x) << " |";
  for (size_t i = 0; i < r.loss.size(); ++i) {
    s << "\n| " << i + 1 << ": " << (r.method == "joint" ? "mixed" : d.domains[i].name) << " |";
    for (size_t j = 0; j < r.loss[i].size(); ++j) {
      const std::string b = (i == j && r.method != "joint") ? "**" : "";
      s << " " << b << num(r.loss[i][j]) << b << " |";
    }
  }
  return s.str() + "\n\n";
}

std::string usage_md(const StreamData& d, const MethodRecord& r) {
  const auto& last = r.pool_share.back();
  std::ostringstream s;
  s << "### " << r.method << " (after the last phase; share of retrievals, mean over PEER layers)\n\n"
    << domain_table_head(d, "pool");
  for (size_t p = 0; p < last[0].size(); ++p) {
    s << "\n| " << pool_label(r, d, p) << " |";
    for (size_t j = 0; j < last.size(); ++j) s << " " << fmt("%.1f%%", 100.0 * last[j][p]) << " |";
  }
  return s.str() + "\n\n";
}

std::string report_md(const Experiment& e, const StreamData& d, const std::vector<MethodRecord>& all,
                      const std::vector<MethodRecord>& done, const std::vector<std::string>& pngs) {
  const Provenance now = current_provenance(e.base);
  std::ostringstream s;
  s << "# Lifelong stream: " << e.path << "\n\n";
  if (!e.description.empty()) s << e.description << "\n\n";
  s << "- written: " << now.date << "\n- commit: " << now.commit << "\n- device: " << now.device
    << "\n- threads: " << now.threads << "\n\n"
    << setup_md(e, d) << "\n## Results\n\n";
  if (done.empty()) s << "No method has finished yet.\n\n";
  else s << summary_md(e, done) << "\n" << comparison_md(done) << frozen_md(done);
  std::string missing;
  for (const MethodRecord& r : all)
    if (!r.failed.empty()) s << "Failed: " << r.method << " (" << r.failed << "; see its metrics.jsonl).\n\n";
    else if (!r.finished) missing += (missing.empty() ? "" : ", ") + r.method;
  if (!missing.empty()) s << "Not finished: " << missing << " (run the same command again to continue).\n\n";
  s << "## Loss matrices (rows: after each phase; columns: held-out loss per domain)\n\n";
  for (const MethodRecord& r : done) s << matrix_md(d, r);
  bool any_pools = false;
  for (const MethodRecord& r : done)
    if (r.last_pools() > 1) {
      if (!any_pools) s << "## Which pool serves which domain\n\n";
      any_pools = true;
      s << usage_md(d, r);
    }
  if (!pngs.empty()) {
    s << "## Plots\n\n";
    for (const std::string& p : pngs) s << "![" << p << "](" << p << ")\n";
  }
  s << "\n## Resolved base config\n\n```toml\n" << to_toml(e.base) << "```\n";
  return s.str();
}

}  // namespace

void write_lifelong_report(const Experiment& e, const StreamData& data, const std::vector<MethodRecord>& records,
                           const std::string& out_dir) {
  std::vector<MethodRecord> done;
  for (const MethodRecord& r : records)
    if (r.finished) done.push_back(r);
  const fs::path out(out_dir);
  write_file_atomic((out / "results.csv").string(), results_csv(e, done));
  write_file_atomic((out / "loss_matrix.csv").string(), loss_matrix_csv(data, records));
  write_file_atomic((out / "pool_usage.csv").string(), pool_usage_csv(data, records));
  const std::vector<std::string> pngs = write_lifelong_plots(data, done, out_dir);
  write_file_atomic((out / "report.md").string(), report_md(e, data, records, done, pngs));
}

}  // namespace peer
