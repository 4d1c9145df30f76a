#include "experiments/lifelong/stream.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/data/text_dataset.h"
#include "core/error.h"
#include "core/rng.h"
#include "experiments/run/corpus.h"
#include "experiments/run/data.h"

namespace peer {

std::string describe(const Domain& d) {
  std::string s = d.name + ":" + d.data.source + ":";
  for (const auto& g : d.data.genres) s += g + ",";
  for (const auto& f : d.data.files) s += f + ",";
  return s;
}

StreamData load_stream(const Experiment& e) {
  std::vector<std::string> texts;
  std::string all;
  auto read = [&](const Domain& d, const std::string& what) {
    try {
      return load_corpus_text(d.data);
    } catch (const InputError& err) {
      const std::string hint = std::string(err.what()).find("not found") != std::string::npos
                                   ? " (`peer data prepare --source all` writes data/brown, data/sotu and data/spamassassin)"
                                   : "";
      throw InputError(e.path + ": " + what + ": " + err.what() + hint);
    }
  };
  for (const Domain& d : e.lifelong.domains) {
    texts.push_back(read(d, "domain '" + d.name + "'"));
    all += texts.back();
  }
  StreamData s;
  std::string pretrain;
  if (e.lifelong.pretrain_tokens > 0) all += pretrain = read(e.lifelong.pretrain, "[pretrain]");
  s.tokenizer = Tokenizer::from_text(all);
  if (!pretrain.empty()) {
    TextDataset split(encode_or_explain(s.tokenizer, pretrain, "[pretrain]"), e.lifelong.pretrain.data.val_fraction);
    s.pretrain = {"pretrain", split.tokens(Split::Train), split.tokens(Split::Val), {}};
  }
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

PhasePlan phase_plan(const LifelongSpec& s, const MethodSpec& spec, const Job& method) {
  PhasePlan p;
  p.phases = int64_t(s.domains.size());
  p.batch = method.config.train.batch_size;
  p.block = method.config.model.block_size;
  p.steps_per_phase = method.config.train.steps;  // experiment parsing sets it to one phase
  p.joint = spec.joint;
  p.seed = uint64_t(method.config.train.seed);
  if (spec.replay) p.replay_fraction = s.replay_fraction, p.replay_tokens = s.replay_tokens;
  return p;
}

void check_stream_fits(const StreamData& d, const PhasePlan& p, int64_t pretrain_steps, const std::string& method) {
  const int64_t pre = pretrain_steps * p.batch * p.block + 1;
  if (pretrain_steps > 0 && int64_t(d.pretrain.train.size()) < pre)
    throw InputError("method '" + method + "': the pretrain text has " + std::to_string(d.pretrain.train.size()) +
                     " training tokens, but pretraining reads " + std::to_string(pre) +
                     "; lower [pretrain] tokens or give it more text");
  for (int64_t phase = 1; p.replay_fraction > 0.0 && phase < p.phases; ++phase)
    if (replay_memory(p, phase).empty())
      throw InputError("method '" + method + "': replay_tokens = " + std::to_string(p.replay_tokens) + " leaves " +
                       std::to_string(p.replay_tokens / phase) + " tokens of each earlier domain in phase " +
                       std::to_string(phase + 1) + ", less than one window (block_size + 1); raise replay_tokens");
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

std::vector<Window> lane_windows(int32_t domain, int64_t steps, int64_t B, int64_t T) {
  std::vector<Window> w(steps * B);
  for (int64_t s = 0; s < steps; ++s)
    for (int64_t b = 0; b < B; ++b) w[s * B + b] = {domain, (b * steps + s) * T};
  return w;
}

std::vector<Window> replay_memory(const PhasePlan& p, int64_t phase) {
  std::vector<Window> m;
  if (phase == 0) return m;
  // Window k spans tokens [kT, kT + T]; the phase read [0, S*B*T] of each domain.
  const int64_t per_domain = std::min(p.replay_tokens / phase, p.steps_per_phase * p.batch * p.block + 1);
  for (int64_t d = 0; d < phase; ++d)
    for (int64_t k = 0; k * p.block + p.block + 1 <= per_domain; ++k) m.push_back({int32_t(d), k * p.block});
  return m;
}

namespace {

// Replaces the last rows of each step by windows drawn from the replay memory.
void add_replay(const PhasePlan& p, int64_t phase, std::vector<Window>& w) {
  const std::vector<Window> memory = replay_memory(p, phase);
  if (memory.empty() || p.replay_fraction <= 0.0) return;
  const Philox rng(p.seed, kStreamReplay);
  const double per_step = p.replay_fraction * double(p.batch);
  for (int64_t s = 0; s < p.steps_per_phase; ++s) {
    const int64_t rows = int64_t(std::floor(double(s + 1) * per_step)) - int64_t(std::floor(double(s) * per_step));
    for (int64_t r = p.batch - rows; r < p.batch; ++r) {
      const uint64_t draw = uint64_t((phase * p.steps_per_phase + s) * p.batch + r);
      w[s * p.batch + r] = memory[rng.below(memory.size(), draw)];
    }
  }
}

}  // namespace

std::vector<Window> phase_windows(const PhasePlan& p, int64_t phase) {
  const int64_t S = p.steps_per_phase, B = p.batch, T = p.block, per_phase = S * B;
  if (!p.joint) {
    std::vector<Window> w = lane_windows(int32_t(phase), S, B, T);
    add_replay(p, phase, w);
    return w;
  }
  std::vector<Window> w(per_phase);
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
    const int32_t* src = (w.domain == kPretrain ? d.pretrain : d.domains[w.domain]).train.data() + w.start;
    std::copy(src, src + T, x.begin() + b * T);
    std::copy(src + 1, src + T + 1, y.begin() + b * T);
  }
}

}  // namespace peer
