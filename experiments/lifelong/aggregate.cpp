#include "experiments/lifelong/aggregate.h"

#include <cmath>

#include "experiments/jobs/report_format.h"

namespace peer {

std::string Spread::text(const char* f) const {
  if (n == 0 || std::isnan(mean)) return "-";
  return n == 1 ? fmt(f, mean) : fmt(f, mean) + " ± " + fmt(f, std);
}

Spread spread(const std::vector<double>& v) {
  Spread s;
  s.n = int(v.size());
  if (v.empty()) return s;
  for (double x : v) s.mean += x / double(v.size());
  if (v.size() > 1) {
    for (double x : v) s.std += (x - s.mean) * (x - s.mean) / double(v.size() - 1);
    s.std = std::sqrt(s.std);
  }
  return s;
}

namespace {

// The mean over seeds of equally shaped matrices.
std::vector<std::vector<double>> mean_of(const std::vector<const std::vector<std::vector<double>>*>& ms) {
  std::vector<std::vector<double>> out = *ms.front();
  for (size_t k = 1; k < ms.size(); ++k)
    for (size_t i = 0; i < out.size(); ++i)
      for (size_t j = 0; j < out[i].size(); ++j) out[i][j] += (*ms[k])[i][j];
  for (auto& row : out)
    for (double& x : row) x /= double(ms.size());
  return out;
}

}  // namespace

std::vector<MethodResults> aggregate(const Experiment& e, const std::vector<MethodRecord>& done) {
  std::vector<MethodResults> out;
  for (size_t i = 0; i < e.jobs.size(); ++i) {
    MethodResults m;
    m.spec = &e.lifelong.methods[i];
    m.ffn = e.jobs[i].config.model.ffn;
    for (const MethodRecord& r : done)
      if (r.method == m.spec->name) m.seeds.push_back(&r);
    if (m.seeds.empty()) continue;
    std::vector<double> fl, fg, bt, ft, pa, tr, tps, ts;
    std::vector<const std::vector<std::vector<double>>*> losses, shares;
    for (const MethodRecord* r : m.seeds) {
      m.metrics.push_back(stream_metrics(*r));
      const StreamMetrics& x = m.metrics.back();
      fl.push_back(x.final_loss), fg.push_back(x.forgetting), bt.push_back(x.backward_transfer);
      ft.push_back(x.forward_transfer), pa.push_back(double(r->params.back()));
      tr.push_back(double(r->trainable.back())), ts.push_back(r->train_s);
      tps.push_back(double(r->tokens_trained) / r->train_s);
      losses.push_back(&r->loss), shares.push_back(&r->pool_share.back());
    }
    m.final_loss = spread(fl), m.forgetting = spread(fg), m.backward = spread(bt), m.forward = spread(ft);
    m.params = spread(pa), m.trainable = spread(tr), m.tokens_per_s = spread(tps), m.train_s = spread(ts);
    m.loss = mean_of(losses);
    m.share = mean_of(shares);
    out.push_back(std::move(m));
  }
  return out;
}

const MethodResults* find_method(const std::vector<MethodResults>& all, const std::string& name) {
  for (const MethodResults& m : all)
    if (m.spec->name == name) return &m;
  return nullptr;
}

}  // namespace peer
