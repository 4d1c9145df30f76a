#include "experiments/lifelong/report.h"

#include <cmath>
#include <filesystem>
#include <sstream>

#include "core/io/atomic_file.h"
#include "experiments/lifelong/aggregate.h"
#include "experiments/lifelong/conclusion.h"
#include "experiments/lifelong/plots.h"
#include "experiments/run/duration.h"
#include "experiments/run/provenance.h"
#include "experiments/jobs/report_format.h"

namespace fs = std::filesystem;

namespace peer {

namespace {

std::string num(double v, const char* f = "%.4f") { return std::isnan(v) ? "-" : fmt(f, v); }

std::string ffn_of(const Experiment& e, const std::string& method) {
  for (size_t i = 0; i < e.jobs.size(); ++i)
    if (e.jobs[i].name == method) return e.jobs[i].config.model.ffn;
  return "";
}

std::string results_csv(const Experiment& e, const std::vector<MethodRecord>& done) {
  std::ostringstream s;
  s << "method,ffn,phases,final_loss,avg_forgetting,backward_transfer,forward_transfer,params_first_phase,"
       "params_last_phase,trainable_last_phase,tokens_trained,tokens_per_s,train_s,seed\n";
  for (const MethodRecord& r : done) {
    const StreamMetrics m = stream_metrics(r);
    s << r.method << "," << ffn_of(e, r.method) << "," << r.phases_done << "," << num(m.final_loss, "%.6f") << ","
      << num(m.forgetting, "%.6f") << "," << num(m.backward_transfer, "%.6f") << "," << num(m.forward_transfer, "%.6f")
      << "," << r.params.front() << "," << r.params.back() << "," << r.trainable.back() << "," << r.tokens_trained << ","
      << fmt("%.1f", double(r.tokens_trained) / r.train_s) << "," << fmt("%.1f", r.train_s) << "," << r.seed << "\n";
  }
  return s.str();
}

std::string loss_matrix_csv(const Experiment& e, const StreamData& d, const std::vector<MethodRecord>& records) {
  std::ostringstream s;
  s << "method,phase,trained_on,domain,loss,seed\n";
  for (const MethodRecord& r : records) {
    bool joint = false;
    for (const MethodSpec& m : e.lifelong.methods) joint = joint || (m.name == r.method && m.joint);
    for (size_t j = 0; j < r.init_loss.size(); ++j)
      s << r.method << ",0," << (e.lifelong.pretrain_tokens > 0 ? "pretrain" : "") << "," << d.domains[j].name << ","
        << fmt("%.6f", r.init_loss[j]) << "," << r.seed << "\n";
    for (size_t i = 0; i < r.loss.size(); ++i)
      for (size_t j = 0; j < r.loss[i].size(); ++j)
        s << r.method << "," << i + 1 << "," << (joint ? "all" : d.domains[i].name) << "," << d.domains[j].name << ","
          << fmt("%.6f", r.loss[i][j]) << "," << r.seed << "\n";
  }
  return s.str();
}

std::string pool_usage_csv(const StreamData& d, const std::vector<MethodRecord>& records) {
  std::ostringstream s;
  s << "method,phase,domain,pool,share,seed\n";
  for (const MethodRecord& r : records)
    for (size_t i = 0; i < r.pool_share.size(); ++i)
      for (size_t j = 0; j < r.pool_share[i].size(); ++j)
        for (size_t p = 0; p < r.pool_share[i][j].size(); ++p)
          s << r.method << "," << i + 1 << "," << d.domains[j].name << "," << p << ","
            << fmt("%.6f", r.pool_share[i][j][p]) << "," << r.seed << "\n";
  return s.str();
}

std::string text_of(const Domain& dom) {
  std::string text;
  for (const auto& g : dom.data.genres) text += (text.empty() ? "Brown " : ", ") + g;
  for (const auto& f : dom.data.files) text += (text.empty() ? "" : ", ") + f;
  return text;
}

std::string setup_md(const Experiment& e, const StreamData& d) {
  const LifelongSpec& l = e.lifelong;
  std::ostringstream s;
  s << "## Setup\n\n| # | domain | text | train tokens | held-out tokens | scored after each phase |\n"
       "|---|---|---|---|---|---|\n";
  if (l.pretrain_tokens > 0)
    s << "| 0 | pretrain | " << text_of(l.pretrain) << " | " << d.pretrain.train.size() << " | - | - |\n";
  for (size_t i = 0; i < d.domains.size(); ++i)
    s << "| " << i + 1 << " | " << l.domains[i].name << " | " << text_of(l.domains[i]) << " | "
      << d.domains[i].train.size() << " | " << d.domains[i].val.size() << " | " << d.domains[i].eval.size() - 1 << " |\n";
  Config c = e.base;
  c.train.tokens = l.tokens_per_phase;
  const int64_t per_step = c.train.batch_size * c.model.block_size, steps = c.total_steps();
  s << "\n- Seeds: ";
  for (size_t i = 0; i < l.seeds.size(); ++i) s << (i ? ", " : "") << l.seeds[i];
  s << " (every method runs once per seed; tables give mean ± sample standard deviation).\n";
  if (l.pretrain_tokens > 0)
    s << "- Pretraining: " << l.pretrain_tokens << " tokens of the pretrain text (its own warmup + cosine schedule), "
      << "trained once per model config and seed (OUT/shared/pretrain-*) and the start of every method with that "
         "config. Losses \"before training\" are after pretraining.\n";
  s << "- Each phase trains on tokens_per_phase = " << l.tokens_per_phase
    << " tokens rounded up to whole steps (base shape: " << steps << " steps of " << c.train.batch_size << " x "
    << c.model.block_size << " = " << steps * per_step
    << " tokens), reading every token once: the start of the phase's domain, in " << c.train.batch_size
    << " parallel lanes. joint reads the same tokens of all domains, shuffled, over as many phases.\n"
    << "- Learning rate: " << c.train.warmup_steps << " warmup steps then cosine from " << c.train.lr << " to "
    << c.train.lr * c.train.min_lr_ratio << ", per phase (re-warmed at each domain) or once over the whole stream "
    << "(rewarm = false; see each method); AdamW moments carry over between phases.\n"
    << "- Freeze-and-add methods add a " << l.pool.n1 << "x" << l.pool.n2 << " pool to every PEER layer at each new "
    << "domain" << (l.pretrain_tokens > 0 ? " (the first domain too: pool 1 is the pretrain's)" : "") << ".\n"
    << "- Replay methods draw " << l.replay_fraction * 100 << "% of each batch from a memory of " << l.replay_tokens
    << " tokens of earlier domains' training text (split equally between them).\n"
    << "- Forward transfer: mean over domains of (loss of a model trained from scratch on that domain alone for the "
       "same tokens - the method's loss on it right after its phase); > 0: what came before helped.\n"
    << "- Losses are mean nats per token over each domain's held-out text (the end of the domain, "
    << c.data.val_fraction << " of it), cut into consecutive windows of " << c.model.block_size << " tokens.\n\n"
    << "| method | FFN | what it does | learning rate | overrides |\n|---|---|---|---|---|\n";
  for (size_t i = 0; i < e.jobs.size(); ++i) {
    const Job& v = e.jobs[i];
    std::string sets;
    for (size_t k = 1; k < v.sets.size(); ++k) sets += (sets.empty() ? "" : ", ") + std::string("`") + v.sets[k] + "`";
    s << "| " << v.name << " | " << v.config.model.ffn << " | " << l.methods[i].about << " | "
      << (l.methods[i].rewarm ? "re-warmed per phase" : "one schedule") << " | " << (sets.empty() ? "-" : sets) << " |\n";
  }
  return s.str();
}

// One table per metric: every method (mean ± std, then each seed's value).
std::string metric_tables_md(const Experiment& e, const std::vector<MethodResults>& all) {
  struct Metric {
    std::string title, help;
    Spread MethodResults::*spread;
    double (*value)(const StreamMetrics&, const MethodRecord&);
    const char* f;
  };
  const std::vector<Metric> metrics = {
      {"Final loss", "mean over domains of the held-out loss after the last phase (lower is better)",
       &MethodResults::final_loss, [](const StreamMetrics& m, const MethodRecord&) { return m.final_loss; }, "%.4f"},
      {"Average forgetting", "over every domain but the last: final loss - best loss of an earlier phase (nats/token; higher = more forgotten)",
       &MethodResults::forgetting, [](const StreamMetrics& m, const MethodRecord&) { return m.forgetting; }, "%.4f"},
      {"Backward transfer", "mean of R[j][j] - R[last][j] (negative = forgetting)", &MethodResults::backward,
       [](const StreamMetrics& m, const MethodRecord&) { return m.backward_transfer; }, "%.4f"},
      {"Forward transfer", "mean of from-scratch loss - R[j][j] (positive = earlier training helped)",
       &MethodResults::forward, [](const StreamMetrics& m, const MethodRecord&) { return m.forward_transfer; }, "%.4f"},
      {"Parameters after the last phase", "", &MethodResults::params,
       [](const StreamMetrics&, const MethodRecord& r) { return double(r.params.back()); }, "%.0f"},
      {"Trained parameters in the last phase", "", &MethodResults::trainable,
       [](const StreamMetrics&, const MethodRecord& r) { return double(r.trainable.back()); }, "%.0f"},
      {"Training time (s)", "", &MethodResults::train_s,
       [](const StreamMetrics&, const MethodRecord& r) { return r.train_s; }, "%.0f"}};
  std::ostringstream s;
  for (const Metric& m : metrics) {
    s << "### " << m.title << "\n\n" << (m.help.empty() ? "" : m.help + ".\n\n") << "| method | mean ± std |";
    std::string rule = "|---|---|";
    for (int64_t seed : e.lifelong.seeds) s << " seed " << seed << " |", rule += "---|";
    s << "\n" << rule << "\n";
    for (const MethodResults& r : all) {
      s << "| " << r.spec->name << " | " << (r.*m.spread).text(m.f) << " |";
      for (int64_t seed : e.lifelong.seeds) {
        std::string v = "-";
        for (size_t k = 0; k < r.seeds.size(); ++k)
          if (r.seeds[k]->seed == seed) v = num(m.value(r.metrics[k], *r.seeds[k]), m.f);
        s << " " << v << " |";
      }
      s << "\n";
    }
    s << "\n";
  }
  return s.str();
}

std::string frozen_md(const std::vector<MethodRecord>& done) {
  std::ostringstream s;
  for (const MethodRecord& r : done)
    if (!r.frozen_crc.empty())
      s << "Frozen weights of " << r.method << " (seed " << r.seed << "): the CRC-32 of each of its "
        << r.frozen_crc.size() << " frozen tensors, taken when it was frozen, matched after every later phase "
        << "(bit-identical).\n\n";
  return s.str();
}

// The head of a table with one column per domain: "| first | press | ... |" and its rule.
std::string domain_table_head(const StreamData& d, const std::string& first) {
  std::string s = "| " + first + " |", rule = "\n|---|";
  for (const DomainText& t : d.domains) s += " " + t.name + " |", rule += "---|";
  return s + rule;
}

std::string matrix_md(const StreamData& d, const MethodResults& r) {
  std::ostringstream s;
  s << "### " << r.spec->name << "\n\n" << domain_table_head(d, "after");
  for (size_t i = 0; i < r.loss.size(); ++i) {
    s << "\n| " << i + 1 << ": " << (r.spec->joint ? "mixed" : d.domains[i].name) << " |";
    for (size_t j = 0; j < r.loss[i].size(); ++j) {
      const std::string b = (i == j && !r.spec->joint) ? "**" : "";
      s << " " << b << num(r.loss[i][j]) << b << " |";
    }
  }
  return s.str() + "\n\n";
}

std::string usage_md(const Experiment& e, const StreamData& d, const MethodResults& r) {
  std::ostringstream s;
  s << "### " << r.spec->name << "\n\n" << domain_table_head(d, "pool");
  for (size_t p = 0; p < r.share[0].size(); ++p) {
    s << "\n| " << pool_label(e, d, *r.spec, p) << " |";
    for (size_t j = 0; j < r.share.size(); ++j) s << " " << fmt("%.1f%%", 100.0 * r.share[j][p]) << " |";
  }
  return s.str() + "\n\n";
}

std::string report_md(const Experiment& e, const StreamData& d, const std::vector<MethodRecord>& all,
                      const std::vector<MethodRecord>& done, const std::vector<std::string>& pngs) {
  const Provenance now = current_provenance(e.base);
  const std::vector<MethodResults> results = aggregate(e, done);
  std::ostringstream s;
  s << "# Lifelong stream: " << e.path << "\n\n";
  if (!e.description.empty()) s << e.description << "\n\n";
  s << "- written: " << now.date << "\n- commit: " << now.commit << "\n- device: " << now.device
    << "\n- threads: " << now.threads << "\n\n"
    << setup_md(e, d) << "\n## Results\n\n";
  if (results.empty()) s << "No method has finished yet.\n\n";
  else s << conclusion_md(results) << metric_tables_md(e, results) << frozen_md(done);
  std::string missing;
  for (const MethodRecord& r : all)
    if (!r.failed.empty()) s << "Failed: " << r.method << " (" << r.failed << "; seed " << r.seed << "; see its metrics.jsonl).\n\n";
    else if (!r.finished) missing += (missing.empty() ? "" : ", ") + r.method + " (seed " + std::to_string(r.seed) + ")";
  if (!missing.empty()) s << "Not finished: " << missing << " (run the same command again to continue).\n\n";
  s << "## Loss matrices (mean over seeds; rows: after each phase; columns: held-out loss per domain)\n\n";
  for (const MethodResults& r : results) s << matrix_md(d, r);
  bool any_pools = false;
  for (const MethodResults& r : results)
    if (r.share[0].size() > 1) {
      if (!any_pools) s << "## Which pool serves which domain (share of retrievals after the last phase, mean over PEER layers and seeds)\n\n";
      any_pools = true;
      s << usage_md(e, d, r);
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
  write_file_atomic((out / "loss_matrix.csv").string(), loss_matrix_csv(e, data, records));
  write_file_atomic((out / "pool_usage.csv").string(), pool_usage_csv(data, records));
  const std::vector<std::string> pngs = write_lifelong_plots(e, data, aggregate(e, done), out_dir);
  write_file_atomic((out / "report.md").string(), report_md(e, data, records, done, pngs));
}

}  // namespace peer
