// The written conclusion of a lifelong report: which methods forgot, what reduced forgetting
// along the freeze-and-add ladder and at what cost in final loss and parameters, what the
// controls (a pool of the same size, replay, oracle routing, joint training) say - generated from
// the numbers, with each difference judged against the spread across seeds.
#pragma once

#include <string>
#include <vector>

#include "experiments/lifelong/aggregate.h"

namespace peer {

std::string conclusion_md(const std::vector<MethodResults>& all);

}  // namespace peer
