# `peer run --shard I/N` and `--report` (experiments/README.md, "Scale-out"):
#  1. two shards run at once into one folder, then --report: the same results.csv (all but the
#     timing and date columns) and the same metrics as one process;
#  2. a shard killed (SIGKILL) in the middle of a job leaves its claim; running that shard again
#     takes the claim over (same host, process gone) and resumes the job from its checkpoint;
#  3. a job claimed by a live process is skipped, and run once that process is gone.
# usage: bash sweep_shards.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"
make_corpus "$TMP/data"
write_config "$TMP/base.toml" 'train.eval_every=50' 'train.log_every=5'
cat > "$TMP/exp.toml" <<'EOF'
base = "base.toml"
[experiment]
kind = "sweep"
steps = 800
seeds = [1, 2]
[variants.dense]
[variants.moe]
model.ffn = "moe"
moe = { num_experts = 4, top_k = 2, d_expert = 32, router = "topk" }
EOF
# Jobs in plan order: 0 dense seed 1, 1 dense seed 2, 2 moe seed 1, 3 moe seed 2.

# results.csv without tokens_per_s, wall_s, peak_rss_mb and date (columns 16-18, 22).
stable_results() { cut -d, -f1-15,19-21 "$1"; }

note "one process"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/one"

note "two shards at once, then --report"
"$PEER" run "$TMP/exp.toml" --out "$TMP/two" --shard 1/2 > "$TMP/s1.out" 2> "$TMP/s1.err" < /dev/null &
pid1=$!
"$PEER" run "$TMP/exp.toml" --out "$TMP/two" --shard 2/2 > "$TMP/s2.out" 2> "$TMP/s2.err" < /dev/null &
pid2=$!
set +e; wait "$pid1"; rc1=$?; wait "$pid2"; rc2=$?; set -e
LAST_ERR="$TMP/s1.err"; [[ $rc1 == 0 ]] || fail "shard 1/2 exited $rc1"
LAST_ERR="$TMP/s2.err"; [[ $rc2 == 0 ]] || fail "shard 2/2 exited $rc2"
grep -q "'dense seed 1' finished" "$TMP/s1.err" && grep -q "'moe seed 1' finished" "$TMP/s1.err" \
  || fail "shard 1/2 did not run jobs 0 and 2: $(grep finished "$TMP/s1.err")"
! grep -q "seed 2' finished" "$TMP/s1.err" || fail "shard 1/2 ran a job of shard 2/2"
! grep -q "seed 1' finished" "$TMP/s2.err" || fail "shard 2/2 ran a job of shard 1/2"
grep -q -- "--report" "$TMP/s1.err" || fail "a shard does not say how to write the report of all shards"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/two" --report
! grep -q '\[train\] step' "$LAST_ERR" || fail "--report trained"
diff -u <(stable_results "$TMP/one/results.csv") <(stable_results "$TMP/two/results.csv") >&2 \
  || fail "two shards + --report give another results.csv than one process"
diff -u "$TMP/one/results_summary.csv" "$TMP/two/results_summary.csv" >&2 || fail "results_summary.csv differs"
for v in dense moe; do
  for s in 1 2; do
    cmp -s <(strip_timing "$TMP/one/variants/$v/seed-$s/metrics.jsonl") \
      <(strip_timing "$TMP/two/variants/$v/seed-$s/metrics.jsonl") || fail "$v seed $s: metrics differ"
  done
done
ls "$TMP"/two/variants/*/*.claim > /dev/null 2>&1 && fail "finished jobs left claims: $(ls "$TMP"/two/variants/*/*.claim)"

note "a killed shard resumes its job"
LAST_CMD="peer run exp.toml --out K --shard 1/2 (then SIGKILL)"
"$PEER" run "$TMP/exp.toml" --out "$TMP/K" --shard 1/2 > "$LAST_OUT" 2> "$LAST_ERR" < /dev/null &
pid=$!
for _ in $(seq 1 12000); do
  [[ -f "$TMP/K/variants/dense/seed-1/checkpoint.safetensors" ]] && break
  kill -0 "$pid" 2> /dev/null || break
  sleep 0.01
done
[[ -f "$TMP/K/variants/dense/seed-1/checkpoint.safetensors" ]] || { kill -KILL "$pid" 2> /dev/null; fail "no checkpoint within 120 s"; }
kill -KILL "$pid"
set +e; wait "$pid" 2> /dev/null; set -e
[[ ! -f "$TMP/K/variants/dense/seed-1/summary.json" ]] || fail "job 0 finished before the kill (too short?)"
grep -q " $pid\$" "$TMP/K/variants/dense/seed-1.claim" || fail "the killed shard left no claim naming its pid"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/K" --shard 1/2
expect_stderr_contains "resuming from its checkpoint at step"
[[ ! -f "$TMP/K/variants/dense/seed-1.claim" ]] || fail "the resumed job kept its claim"
cmp -s <(strip_timing "$TMP/one/variants/dense/seed-1/metrics.jsonl") \
  <(strip_timing "$TMP/K/variants/dense/seed-1/metrics.jsonl") || fail "the resumed job's metrics differ from one process's"

note "a job claimed by a live process is skipped"
sleep 300 < /dev/null > /dev/null 2>&1 &
holder=$!
mkdir -p "$TMP/K/variants/dense"
echo "$(hostname) $holder" > "$TMP/K/variants/dense/seed-2.claim"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/K" --shard 2/2
expect_stderr_contains "'dense seed 2' is being run by $(hostname) $holder"
[[ ! -e "$TMP/K/variants/dense/seed-2" ]] || fail "the claimed job ran"
[[ -f "$TMP/K/variants/moe/seed-2/summary.json" ]] || fail "the shard's other job did not run"
kill "$holder"; wait "$holder" 2> /dev/null || true
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/K" --shard 2/2
[[ -f "$TMP/K/variants/dense/seed-2/summary.json" ]] || fail "the job did not run once its holder was gone"
[[ $(wc -l < "$TMP/K/results.csv") == 5 ]] || fail "results.csv after every shard: $(cat "$TMP/K/results.csv")"

note "ok"
