#!/usr/bin/env bash
# The README's second command: installs what is missing, builds everything and runs the whole
# test suite (GPU tests report "skipped: no CUDA device" where there is none).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
# Tests run side by side (-j): waiting OpenMP threads sleep instead of spinning on cores
# another test needs.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
cd build && ctest --output-on-failure --timeout 1800 -j "$(nproc)"
