// Thread control. Results never depend on timing: a parallel loop either gives each output to
// one iteration that computes it in a fixed order (then the schedule may be dynamic, which
// absorbs a late or descheduled thread: who computes an output never changes how), or sums
// fixed chunks whose partial results are combined in order (static).
#pragma once

namespace peer {

void set_num_threads(int n);
int num_threads();

}  // namespace peer
