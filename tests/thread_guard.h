// Runs a test at a fixed OpenMP thread count and restores the previous one. Tests that make
// thousands of tiny calls (finite differences, tie sweeps) run single-threaded: on a loaded
// 2-core machine each OpenMP barrier can wait a whole scheduler slice for a descheduled thread
// (a gradient check was seen taking 110 s instead of 0.2 s). Threading itself is covered by the
// retrieval, gemm and determinism tests.
#pragma once

#include "core/parallel.h"

struct ThreadGuard {
  int before;
  explicit ThreadGuard(int n) : before(peer::num_threads()) { peer::set_num_threads(n); }
  ~ThreadGuard() { peer::set_num_threads(before); }
};
