// One method at one seed trained through a lifelong stream (lifelong/run.h) into
// OUT/methods/NAME/: its shared starting point and references first (pretrain.h), then per phase
// the method's freeze-and-add, frozen statistics and oracle pool (methods.h), the phase's windows
// (stream.h, replay included), the learning-rate schedule (re-warmed or one over the stream), and
// after the phase every domain's held-out loss and pool shares, a checkpoint and state.json.
#pragma once

#include <string>

#include "experiments/jobs/experiment.h"
#include "experiments/lifelong/record.h"
#include "experiments/lifelong/stream.h"

namespace peer {

struct MethodJob {
  const MethodSpec* spec;
  Job job;  // the method's job with train.seed set; its name is the folder's
};

// DIR/state.json: the MethodRecord of the method in DIR.
std::string method_state_path(const std::string& dir);

// Trains (or resumes) the method, keeping rec (the caller's, for its report) up to date. Returns
// kExitOk, kExitFailed (a non-finite loss; rec.failed says where) or kExitInterrupted.
int run_method(const Experiment& e, const MethodJob& m, const StreamData& data, const std::string& out_dir,
               MethodRecord& rec);

}  // namespace peer
