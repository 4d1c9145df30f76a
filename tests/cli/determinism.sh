# Determinism and exact resume of `peer train` (experiments/README.md):
#  1. the same config, seed and threads give identical metrics (timing fields aside) and identical
#     checkpoints; another seed gives other metrics;
#  2. a run interrupted by SIGINT exits 130 with a checkpoint, and `--resume` finishes it with
#     exactly the metrics, summary and checkpoint of a run that was never interrupted;
#  3. a non-finite loss stops the run with exit 1 and a message naming the step.
# usage: bash determinism.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"
make_corpus "$TMP/data"

# same_metrics A B WHAT: the metrics.jsonl of runs A and B agree once tokens_per_s is removed.
same_metrics() {
  strip_timing "$1/metrics.jsonl" > "$TMP/m1"
  strip_timing "$2/metrics.jsonl" > "$TMP/m2"
  [[ -s "$TMP/m1" ]] || fail "$3: $1/metrics.jsonl is empty"
  diff -u "$TMP/m1" "$TMP/m2" >&2 || fail "$3: metrics.jsonl of $1 and $2 differ (diff above)"
}

note "two runs of one config and seed"
write_config "$TMP/short.toml" 'train.steps = 60' 'train.eval_every = 20' 'train.threads = 2'
train_run "$TMP/s1" "$TMP/short.toml"
train_run "$TMP/s2" "$TMP/short.toml"
same_metrics "$TMP/s1" "$TMP/s2" "same seed"
[[ $(grep -c '"split":"val"' "$TMP/s1/metrics.jsonl") == 3 ]] || fail "expected val rows at steps 20, 40, 60"
cmp "$TMP/s1/checkpoint.safetensors" "$TMP/s2/checkpoint.safetensors" >&2 \
  || fail "same seed: the two checkpoints differ"
[[ "$(json_get "$TMP/s1/summary.json" final_val_loss)" == "$(json_get "$TMP/s2/summary.json" final_val_loss)" ]] \
  || fail "same seed: summary.json final_val_loss differs"

note "another seed"
train_run "$TMP/s3" "$TMP/short.toml" --set train.seed=8
strip_timing "$TMP/s1/metrics.jsonl" > "$TMP/m1"
strip_timing "$TMP/s3/metrics.jsonl" > "$TMP/m3"
! cmp -s "$TMP/m1" "$TMP/m3" || fail "train.seed=8 gave the same metrics as train.seed=7"

# Exact resume. Both runs have the same train.steps (the LR schedule depends on it). B is stopped
# by SIGINT soon after its first checkpoint (step 20), far from its end (step 120).
note "exact resume after SIGINT"
write_config "$TMP/long.toml" 'train.steps = 120' 'train.eval_every = 20' 'train.threads = 2'
train_run "$TMP/A" "$TMP/long.toml"

interrupt_run INT "$TMP/B" "$TMP/long.toml"
rc=$LAST_RC
[[ $rc == 130 ]] || fail "SIGINT: run B exited $rc, expected 130"
grep -q "interrupted at step" "$LAST_ERR" || fail "SIGINT: no 'interrupted at step N' message"
stop=$(sed -n 's/.*interrupted at step \([0-9]*\).*/\1/p' "$LAST_ERR" | head -n 1)
(( stop >= 20 && stop < 120 )) || fail "SIGINT: interrupted at step '$stop', expected 20 <= step < 120"
[[ -f "$TMP/B/checkpoint.safetensors" ]] || fail "SIGINT: no checkpoint written"
[[ ! -e "$TMP/B/summary.json" ]] || fail "SIGINT: an interrupted run wrote summary.json"
note "interrupted at step $stop; resuming"

expect_exit 0 "$PEER" train --resume "$TMP/B"
same_metrics "$TMP/A" "$TMP/B" "resume from step $stop"
after=$(python3 -c '
import json, sys
print(sum(1 for l in open(sys.argv[1]) if json.loads(l)["split"] == "val" and json.loads(l)["step"] > int(sys.argv[2])))' \
  "$TMP/B/metrics.jsonl" "$stop")
(( after >= 4 )) || fail "resume: only $after val rows after step $stop"
for key in final_val_loss best_val_loss final_train_loss steps; do
  [[ "$(json_get "$TMP/A/summary.json" $key)" == "$(json_get "$TMP/B/summary.json" $key)" ]] \
    || fail "resume: summary.json $key is $(json_get "$TMP/B/summary.json" $key), the straight run has $(json_get "$TMP/A/summary.json" $key)"
done
cmp "$TMP/A/checkpoint.safetensors" "$TMP/B/checkpoint.safetensors" >&2 \
  || fail "resume: the final checkpoint differs from the straight run's"

note "non-finite loss"
expect_exit 1 "$PEER" train "$TMP/short.toml" --out "$TMP/nan" --set train.lr=1e30
expect_stderr_contains "step"
grep -qiE "nan|inf" "$LAST_ERR" || fail "non-finite loss: the message does not say nan or inf"
[[ ! -e "$TMP/nan/summary.json" ]] || fail "non-finite loss: the failed run wrote summary.json"

note "ok"
