// The data of a lifelong stream (experiment.h, kind = "lifelong"): every domain's text under
// one vocabulary, split into train and held-out parts, and the order in which a method reads
// the training tokens.
//
// Each phase trains steps_per_phase = ceil(tokens_per_phase / (B*T)) steps and reads every
// training token it uses once (one pass): the first S*B*T + 1 tokens of a domain's train split.
//  - Sequential methods read domain p in phase p, in B lanes: batch row b of step s is the
//    window starting at (b*S + s)*T, so each row walks its own stretch of text in order.
//  - joint reads the same windows of all domains, shuffled once (Philox, kStreamShuffle), and
//    takes S*B of them per phase: the same tokens as the sequential methods, mixed.
//  - Replay methods replace a fraction f of the rows of phase p > 0 (at step s, the last
//    floor((s+1)fB) - floor(sfB) rows, so f*S*B rows over the phase) by windows drawn uniformly
//    (Philox, kStreamReplay) from the replay memory: the first floor(replay_tokens / p) tokens of
//    each earlier domain's training text (all of it read in its phase), at most replay_tokens.
//  - A pretrain phase reads the pretrain text in the same B lanes (Window::domain kPretrain).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/data/tokenizer.h"
#include "experiments/jobs/experiment.h"

namespace peer {

struct DomainText {
  std::string name;
  std::vector<int32_t> train, val;
  std::vector<int32_t> eval;  // the held-out tokens scored after each phase (val, cut to eval_tokens + 1)
};

struct StreamData {
  Tokenizer tokenizer;
  std::vector<DomainText> domains;
  DomainText pretrain;  // its train split is what the pretrain phase reads; empty without one
};

// "name:source:genres,...,files,..." for keys and messages.
std::string describe(const Domain& d);

// Reads every domain and the pretrain text (InputError naming a missing file), builds one
// vocabulary over all of them and splits each by data.val_fraction.
StreamData load_stream(const Experiment& e);

struct PhasePlan {
  int64_t phases = 0;           // one per domain
  int64_t steps_per_phase = 0;  // S
  int64_t batch = 0, block = 0; // B, T
  bool joint = false;
  uint64_t seed = 0;
  double replay_fraction = 0.0;  // 0: no replay
  int64_t replay_tokens = 0;
};
// S is the method's train.steps, which parsing sets to ceil(tokens_per_phase / (B*T)).
PhasePlan phase_plan(const LifelongSpec& s, const MethodSpec& spec, const Job& method);

// Throws InputError (naming the method and domain) when a domain's train split is shorter than a
// phase reads (S*B*T + 1 tokens), its held-out split is shorter than T + 1, the pretrain text is
// shorter than pretrain_steps reads, or the replay memory holds no window of some phase.
void check_stream_fits(const StreamData& d, const PhasePlan& p, int64_t pretrain_steps, const std::string& method);

constexpr int32_t kPretrain = -1;
struct Window {
  int32_t domain;  // or kPretrain
  int64_t start;   // into that domain's train tokens; the window is T + 1 tokens
};
// The S*B windows of phase `phase`; step s reads entries [s*B, (s+1)*B).
std::vector<Window> phase_windows(const PhasePlan& p, int64_t phase);
// The windows of `steps` steps of B lanes over one text (a domain or kPretrain).
std::vector<Window> lane_windows(int32_t domain, int64_t steps, int64_t B, int64_t T);
// The windows replay draws from in phase `phase` (empty in phase 0), in domain then text order.
std::vector<Window> replay_memory(const PhasePlan& p, int64_t phase);

// x, y (B*T): inputs and next-token targets of step `step` of a phase.
void stream_batch(const StreamData& d, const std::vector<Window>& windows, const PhasePlan& p, int64_t step,
                  std::vector<int32_t>& x, std::vector<int32_t>& y);

}  // namespace peer
