# Signals and a second process during a run (experiments/README.md, issue 16):
#  1. SIGINT and SIGTERM during the end-of-run sample stop it: exit 130 at once, the run complete;
#  2. a second `peer train --resume` of a folder that a trainer holds exits 2 naming the folder
#     and the holder's pid, and writes nothing (no metrics row twice); the lock goes with the
#     process, however it ends (SIGINT, SIGKILL);
#  3. SIGTERM while gnuplot draws a report's plots stops it: exit 130 at once, gnuplot stopped.
# usage: bash run_signals.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"
make_corpus "$TMP/data"
write_config "$TMP/good.toml"

# wait_for SECONDS CMD...: polls CMD every 0.05 s until it succeeds; fails after SECONDS.
wait_for() {
  local limit="$1" _; shift
  for _ in $(seq 1 $((limit * 20))); do
    "$@" && return 0
    sleep 0.05
  done
  fail "gave up after ${limit} s waiting for: $*"
}

# stop_and_wait PID SIGNAL SECONDS: sends SIGNAL, then waits at most SECONDS for PID to end
# (SIGKILL after that, and the test fails). Sets LAST_RC.
stop_and_wait() {
  local pid="$1" sig="$2" limit="$3"
  kill -"$sig" "$pid"
  if ! wait_for_exit "$pid" "$limit"; then
    kill -KILL "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
    fail "$LAST_CMD: still running ${limit} s after SIG$sig"
  fi
  set +e
  wait "$pid"
  LAST_RC=$?
  set -e
}
wait_for_exit() {
  local _
  for _ in $(seq 1 $(($2 * 20))); do
    kill -0 "$1" 2> /dev/null || return 0
    sleep 0.05
  done
  return 1
}

for sig in INT TERM; do
  note "SIG$sig during the end-of-run sample"
  # 10^7 tokens would take minutes; summary.json is written just before sampling starts.
  LAST_CMD="peer train --out $TMP/s$sig (then SIG$sig while sampling)"
  "$PEER" train "$TMP/good.toml" --out "$TMP/s$sig" --set train.sample_tokens=10000000 \
    > "$LAST_OUT" 2> "$LAST_ERR" < /dev/null &
  pid=$!
  wait_for 120 test -f "$TMP/s$sig/summary.json"
  sleep 0.3
  stop_and_wait "$pid" "$sig" 10
  [[ $LAST_RC == 130 ]] || fail "SIG$sig while sampling: exit $LAST_RC, expected 130"
  expect_stderr_contains "interrupted while sampling"
  [[ "$("$PEER" eval "$TMP/s$sig" | sed -n 's/.*"step":\([0-9]*\).*/\1/p')" == 30 ]] \
    || fail "SIG$sig while sampling: the run's checkpoint is not the finished one (step 30)"
done

note "a second trainer in a folder in use"
train_run "$TMP/R" "$TMP/good.toml"
long=(--set train.steps=1000000 --set train.eval_every=20)
LAST_CMD="peer train --resume $TMP/R (the first one)"
"$PEER" train --resume "$TMP/R" "${long[@]}" > "$TMP/a.out" 2> "$TMP/a.err" < /dev/null &
first=$!
wait_for 60 grep -qx "$first" "$TMP/R/train.lock"
wait_for 60 grep -q '"step":40' "$TMP/R/metrics.jsonl"  # it trains
expect_exit 2 "$PEER" train --resume "$TMP/R" "${long[@]}"
expect_one_line_error
expect_stderr_contains "run folder '$TMP/R' is in use: process $first"
stop_and_wait "$first" INT 30
[[ $LAST_RC == 130 ]] || fail "the first trainer exited $LAST_RC after SIGINT, expected 130"
dups=$(python3 -c '
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
keys = [(r["step"], r["split"]) for r in rows]
print(len(keys) - len(set(keys)))' "$TMP/R/metrics.jsonl")
[[ $dups == 0 ]] || fail "metrics.jsonl holds $dups rows twice"
flock -n "$TMP/R/train.lock" true || fail "the lock outlived its trainer (SIGINT)"

LAST_CMD="peer train --resume $TMP/R (then SIGKILL)"
"$PEER" train --resume "$TMP/R" "${long[@]}" > /dev/null 2> "$TMP/k.err" < /dev/null &
pid=$!
wait_for 60 grep -qx "$pid" "$TMP/R/train.lock"
kill -KILL "$pid"
wait "$pid" 2> /dev/null || true
flock -n "$TMP/R/train.lock" true || fail "the lock outlived its trainer (SIGKILL)"

note "SIGTERM while gnuplot draws the plots"
cat > "$TMP/exp.toml" <<EOT
base = "$TMP/good.toml"
[experiment]
kind = "sweep"
steps = 30
[variants.dense]
EOT
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/S"
# A gnuplot that hangs: a finished sweep run again only writes its report and plots.
mkdir -p "$TMP/bin"
printf '#!/bin/sh\necho $$ > "%s"\nexec sleep 120\n' "$TMP/gnuplot.pid" > "$TMP/bin/gnuplot"
chmod +x "$TMP/bin/gnuplot"
LAST_CMD="peer run (gnuplot hangs; then SIGTERM)"
PATH="$TMP/bin:$PATH" "$PEER" run "$TMP/exp.toml" --out "$TMP/S" > "$LAST_OUT" 2> "$LAST_ERR" < /dev/null &
pid=$!
wait_for 60 test -s "$TMP/gnuplot.pid"
stop_and_wait "$pid" TERM 10
[[ $LAST_RC == 130 ]] || fail "SIGTERM while plotting: exit $LAST_RC, expected 130"
expect_stderr_contains "interrupted: no plots"
wait_for 5 bash -c "! kill -0 $(cat "$TMP/gnuplot.pid") 2> /dev/null"

note "ok"
