#include "experiments/lifelong/conclusion.h"

#include <cmath>
#include <sstream>

#include "experiments/jobs/report_format.h"

namespace peer {

namespace {

// "beyond" when the two means differ by more than the larger seed spread; "within" otherwise;
// "one seed" when there is no spread to compare with.
std::string noise(const Spread& a, const Spread& b) {
  if (a.n < 2 || b.n < 2) return "one seed, no spread to judge it by";
  return std::fabs(a.mean - b.mean) > std::max(a.std, b.std) ? "beyond the seed spread" : "within the seed spread";
}

std::string delta(const Spread& a, const Spread& b) { return fmt("%+.4f", a.mean - b.mean) + " (" + noise(a, b) + ")"; }

std::string line(const MethodResults& a, const MethodResults& b) {
  return "forgetting " + a.forgetting.text() + " vs " + b.forgetting.text() + ", " + delta(a.forgetting, b.forgetting) +
         "; final loss " + a.final_loss.text() + " vs " + b.final_loss.text() + ", " + delta(a.final_loss, b.final_loss) +
         "; " + si(a.params.mean) + " vs " + si(b.params.mean) + " parameters";
}

void baselines(const std::vector<MethodResults>& all, std::ostringstream& s) {
  for (const char* name : {"dense", "peer"}) {
    const MethodResults* m = find_method(all, name);
    if (!m || std::isnan(m->forgetting.mean)) continue;
    s << "- Sequential **" << name << "** forgot " << m->forgetting.text() << " nats/token on average ("
      << (m->forgetting.mean >= 0.1 ? "at least" : "less than") << " the 0.1 this stream is meant to show).\n";
  }
}

void ladder(const std::vector<MethodResults>& all, std::ostringstream& s) {
  const MethodResults* prev = find_method(all, "peer");
  for (const MethodResults& m : all) {
    if (!m.spec->add_pools) continue;
    if (prev) s << "- **" << m.spec->name << "** (" << m.spec->about << ") against " << prev->spec->name << ": " << line(m, *prev) << ".\n";
    prev = &m;
  }
}

void best(const std::vector<MethodResults>& all, std::ostringstream& s) {
  const MethodResults* b = nullptr;
  for (const MethodResults& m : all)
    if (!m.spec->joint && !std::isnan(m.forgetting.mean) && (!b || m.forgetting.mean < b->forgetting.mean)) b = &m;
  const MethodResults* peer = find_method(all, "peer");
  if (b && peer && b != peer)
    s << "- Least forgetting: **" << b->spec->name << "**; against sequential peer: " << line(*b, *peer) << ".\n";
  const MethodResults* joint = find_method(all, "joint");
  if (b && joint)
    s << "- Joint training (every domain mixed, the same final architecture) ends at final loss " << joint->final_loss.text()
      << "; " << b->spec->name << " is " << fmt("%+.4f", b->final_loss.mean - joint->final_loss.mean) << " from it.\n";
}

void controls(const std::vector<MethodResults>& all, std::ostringstream& s) {
  const std::vector<std::pair<std::string, std::string>> pairs = {{"peer_big", "peer_freeze_add"},
                                                                  {"peer_replay", "peer"},
                                                                  {"dense_replay", "dense"}};
  for (const auto& [a, b] : pairs) {
    const MethodResults *x = find_method(all, a), *y = find_method(all, b);
    if (x && y) s << "- **" << a << "** against " << b << ": " << line(*x, *y) << ".\n";
  }
  for (const MethodResults& m : all) {  // named copies (like = "...") against what they copy
    const MethodResults* base = m.spec->like.empty() ? nullptr : find_method(all, m.spec->like);
    if (base)
      s << "- **" << m.spec->name << "** (" << m.spec->like << (m.spec->rewarm == base->spec->rewarm ? "" : m.spec->rewarm ? ", learning rate re-warmed per phase" : ", one learning-rate schedule over the stream")
        << ") against " << m.spec->like << ": " << line(m, *base) << ".\n";
  }
  const MethodResults* oracle = find_method(all, "peer_fa_oracle");
  const MethodResults* learned = find_method(all, "peer_fa_key_scale");
  if (oracle && learned) {
    const double gap = learned->final_loss.mean - oracle->final_loss.mean;
    s << "- Oracle routing changes the final loss by " << fmt("%+.4f", -gap) << " against learned routing with the same "
      << "frozen parts (" << noise(oracle->final_loss, learned->final_loss) << "): "
      << (gap > std::max(0.01, oracle->final_loss.std)
              ? "the learned router sends tokens to the wrong pools (routing drift)."
              : "routing is not what limits freeze-and-add here; the capacity and training of each new pool is.")
      << "\n";
  }
}

}  // namespace

std::string conclusion_md(const std::vector<MethodResults>& all) {
  std::ostringstream s;
  baselines(all, s);
  best(all, s);
  ladder(all, s);
  controls(all, s);
  if (s.str().empty()) return "";
  return "## Conclusion (written from the numbers above)\n\n" + s.str() +
         "\nDifferences are called beyond the seed spread when the means differ by more than the larger of the two "
         "standard deviations across seeds.\n\n";
}

}  // namespace peer
