// Thread control. All parallel loops use static schedules so that results do not depend on
// timing: the same thread count gives bit-identical results.
#pragma once

namespace peer {

void set_num_threads(int n);
int num_threads();

}  // namespace peer
