#include "core/parallel.h"

#include <Eigen/Core>
#include <omp.h>

namespace peer {

void set_num_threads(int n) {
  omp_set_num_threads(n);
  Eigen::setNbThreads(n);
}

int num_threads() { return omp_get_max_threads(); }

}  // namespace peer
