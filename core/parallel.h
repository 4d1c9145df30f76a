// Thread control. Results never depend on timing or on the thread count: in a parallel loop
// each output belongs to one iteration, which computes it in a fixed order (a sum over many
// elements is split into fixed chunks whose partial sums are combined in order afterwards).
// Then the schedule may be dynamic, which absorbs a late or descheduled thread: who computes an
// output never changes how. No per-thread partial sums (OpenMP reductions) anywhere.
#pragma once

namespace peer {

void set_num_threads(int n);
int num_threads();

}  // namespace peer
