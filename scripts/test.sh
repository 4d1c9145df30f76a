#!/usr/bin/env bash
# The README's second command: installs what is missing, builds everything and runs the whole
# test suite (GPU tests report "skipped: no CUDA device" where there is none).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
cd build && ctest --output-on-failure --timeout 1800 -j "$(nproc)"
