#include "experiments/lifelong/stream.h"

#include <numeric>

#include "core/data/text_dataset.h"
#include "core/error.h"
#include "core/rng.h"
#include "experiments/run/corpus.h"
#include "experiments/run/data.h"

namespace peer {

StreamData load_stream(const Experiment& e) {
  std::vector<std::string> texts;
  std::string all;
  for (const Domain& d : e.lifelong.domains) {
    try {
      texts.push_back(load_corpus_text(d.data));
    } catch (const InputError& err) {
      throw InputError(e.path + ": domain '" + d.name + "': " + err.what());
    }
    all += texts.back();
  }
  StreamData s;
  s.tokenizer = Tokenizer::from_text(all);
  for (size_t i = 0; i < texts.size(); ++i) {
    const Domain& d = e.lifelong.domains[i];
    TextDataset split(encode_or_explain(s.tokenizer, texts[i], "domain '" + d.name + "'"), d.data.val_fraction);
    DomainText t{d.name, split.tokens(Split::Train), split.tokens(Split::Val), {}};
    const int64_t keep = e.lifelong.eval_tokens > 0 ? e.lifelong.eval_tokens + 1 : int64_t(t.val.size());
    t.eval.assign(t.val.begin(), t.val.begin() + std::min<int64_t>(keep, int64_t(t.val.size())));
    s.domains.push_back(std::move(t));
  }
  return s;
}

PhasePlan phase_plan(const LifelongSpec& s, const Job& method) {
  PhasePlan p;
  p.phases = int64_t(s.domains.size());
  p.batch = method.config.train.batch_size;
  p.block = method.config.model.block_size;
  p.steps_per_phase = method.config.train.steps;  // experiment parsing sets it to one phase
  p.joint = method.name == "joint";
  p.seed = uint64_t(method.config.train.seed);
  return p;
}

void check_stream_fits(const StreamData& d, const PhasePlan& p, const std::string& method) {
  const int64_t need = p.steps_per_phase * p.batch * p.block + 1;
  for (const DomainText& t : d.domains) {
    if (int64_t(t.train.size()) < need)
      throw InputError("method '" + method + "': domain '" + t.name + "' has " + std::to_string(t.train.size()) +
                       " training tokens, but a phase reads " + std::to_string(need) + " (tokens_per_phase rounded up to " +
                       std::to_string(p.steps_per_phase) + " steps of " + std::to_string(p.batch) + " x " +
                       std::to_string(p.block) + ", each token once); lower tokens_per_phase or give the domain more text");
    if (int64_t(t.eval.size()) < p.block + 1)
      throw InputError("method '" + method + "': domain '" + t.name + "' has " + std::to_string(t.eval.size()) +
                       " held-out tokens to evaluate, fewer than block_size + 1 (" + std::to_string(p.block + 1) +
                       "); give it more text, or raise data.val_fraction or eval_tokens");
  }
}

std::vector<Window> phase_windows(const PhasePlan& p, int64_t phase) {
  const int64_t S = p.steps_per_phase, B = p.batch, T = p.block, per_phase = S * B;
  std::vector<Window> w(per_phase);
  if (!p.joint) {
    for (int64_t s = 0; s < S; ++s)
      for (int64_t b = 0; b < B; ++b) w[s * B + b] = {int32_t(phase), (b * S + s) * T};
    return w;
  }
  // Window i of the joint stream is window i % (S*B) of domain i / (S*B); Fisher-Yates with
  // Philox draws orders all of them, and phase p takes its slice of the order.
  std::vector<int64_t> order(per_phase * p.phases);
  std::iota(order.begin(), order.end(), 0);
  const Philox rng(p.seed, kStreamShuffle);
  for (int64_t i = int64_t(order.size()) - 1; i > 0; --i) std::swap(order[i], order[rng.below(uint64_t(i + 1), uint64_t(i))]);
  for (int64_t j = 0; j < per_phase; ++j) {
    const int64_t i = order[phase * per_phase + j];
    w[j] = {int32_t(i / per_phase), (i % per_phase) * T};
  }
  return w;
}

void stream_batch(const StreamData& d, const std::vector<Window>& windows, const PhasePlan& p, int64_t step,
                  std::vector<int32_t>& x, std::vector<int32_t>& y) {
  const int64_t B = p.batch, T = p.block;
  x.resize(B * T);
  y.resize(B * T);
  for (int64_t b = 0; b < B; ++b) {
    const Window& w = windows[step * B + b];
    const int32_t* src = d.domains[w.domain].train.data() + w.start;
    std::copy(src, src + T, x.begin() + b * T);
    std::copy(src + 1, src + T + 1, y.begin() + b * T);
  }
}

}  // namespace peer
