// peer_gpu_tests: CUDA against CPU, run by CTest under the label gpu. Without a CUDA device (or
// without the CUDA backend) it says so and exits 77, which CTest reports as skipped, never as
// passed.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>

#include "core/cuda/device.h"

int main(int argc, char** argv) {
  if (peer::cuda::device_count() == 0) {
    std::printf("skipped: no CUDA device (%s)\n", peer::cuda::backend_state().c_str());
    return 77;
  }
  std::printf("CUDA tests on %s\n", peer::cuda::backend_state().c_str());
  return Catch::Session().run(argc, argv);
}
