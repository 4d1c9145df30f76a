#!/usr/bin/env bash
# The README's first command: installs what peer needs (Debian 12, as root), builds, fetches and
# prepares the Brown corpus, then trains the default model for a few minutes and prints a sample.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
./scripts/build.sh
[ -f data/brown/all.txt ] || build/peer data prepare --out data/brown
build/peer train experiments/configs/quick.toml "$@"
