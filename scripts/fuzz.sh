#!/usr/bin/env bash
# Fuzzes the checkpoint reader, the config loader (with --set overrides) and the experiment-file
# parser with libFuzzer, under AddressSanitizer (leaks included) and UndefinedBehaviorSanitizer,
# SECONDS each (default 60), one after another (tests/fuzz/README.md).
#   usage: scripts/fuzz.sh [SECONDS] [TARGET...]      TARGET: checkpoint config experiment
# Needs clang-14 and libclang-rt-14-dev (libFuzzer); builds into build-fuzz/. New inputs that
# reach new code are kept in build-fuzz/corpus/TARGET (the seed corpus in tests/fuzz/corpus is
# read, not written). An input that crashes is written to build-fuzz/crash-TARGET-*: fix the
# bug, then copy the input to tests/fuzz/regressions/TARGET/ so that CTest replays it for ever.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(checkpoint config experiment)
cxx=${FUZZ_CXX:-clang++-14}
command -v "$cxx" >/dev/null || { echo "fuzz.sh: $cxx not found (apt-get install clang-14 libclang-rt-14-dev)" >&2; exit 2; }

launcher=()
command -v ccache >/dev/null && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER="$cxx" -DPEER_CUDA=OFF \
  -DPEER_FUZZ=ON "${launcher[@]}" \
  -DCMAKE_CXX_FLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fsanitize=fuzzer-no-link -fno-sanitize-recover=all" \
  >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
for t in "${targets[@]}"; do
  mkdir -p "build-fuzz/corpus/$t"
  inputs=("build-fuzz/corpus/$t" "tests/fuzz/corpus/$t")
  [[ -d "tests/fuzz/regressions/$t" ]] && inputs+=("tests/fuzz/regressions/$t")
  options=(-max_total_time="$seconds" -timeout=30 -rss_limit_mb=4096 -print_final_stats=1
           -artifact_prefix="build-fuzz/crash-$t-")
  if [[ $t == checkpoint ]]; then options+=(-max_len=65536); else options+=(-max_len=8192 -dict=tests/fuzz/toml.dict); fi
  echo "== fuzz_$t for ${seconds}s"
  "build-fuzz/tests/fuzz/fuzz_$t" "${options[@]}" "${inputs[@]}" || status=1
done
exit $status
