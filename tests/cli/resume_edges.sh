# Edge cases of `peer train --resume DIR` (experiments/README.md):
#  1. after a crash (SIGKILL: no interrupt checkpoint, maybe a torn metrics line, metrics rows past
#     the last checkpoint), --resume finishes with exactly the metrics of a straight run;
#  2. SIGTERM is handled like Ctrl-C (exit 130, checkpoint);
#  3. --resume with a larger train.steps extends a finished run, keeping its earlier rows;
#  4. --resume of a finished run leaves its results as they were (summary.json, val loss).
# usage: bash resume_edges.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"
make_corpus "$TMP/data"

write_config "$TMP/long.toml" 'train.steps = 120' 'train.eval_every = 20'
train_run "$TMP/A" "$TMP/long.toml"
strip_timing "$TMP/A/metrics.jsonl" > "$TMP/A.metrics"

note "crash (SIGKILL) and resume"
interrupt_run KILL "$TMP/K" "$TMP/long.toml"
[[ $LAST_RC == 137 ]] || fail "SIGKILL: the run exited $LAST_RC, expected 137"
[[ ! -e "$TMP/K/summary.json" ]] || fail "SIGKILL: the killed run has a summary.json"
expect_exit 0 "$PEER" train --resume "$TMP/K"
strip_timing "$TMP/K/metrics.jsonl" > "$TMP/K.metrics"
diff -u "$TMP/A.metrics" "$TMP/K.metrics" >&2 || fail "resume after SIGKILL: metrics differ from the straight run"
[[ "$(json_get "$TMP/A/summary.json" final_val_loss)" == "$(json_get "$TMP/K/summary.json" final_val_loss)" ]] \
  || fail "resume after SIGKILL: final_val_loss differs from the straight run"

note "SIGTERM"
interrupt_run TERM "$TMP/T" "$TMP/long.toml"
[[ $LAST_RC == 130 ]] || fail "SIGTERM: the run exited $LAST_RC, expected 130"
expect_stderr_contains "interrupted"
expect_exit 0 "$PEER" train --resume "$TMP/T"
strip_timing "$TMP/T/metrics.jsonl" > "$TMP/T.metrics"
diff -u "$TMP/A.metrics" "$TMP/T.metrics" >&2 || fail "resume after SIGTERM: metrics differ from the straight run"

note "extend a finished run"
write_config "$TMP/short.toml" 'train.steps = 30' 'train.eval_every = 10'
train_run "$TMP/E" "$TMP/short.toml"
strip_timing "$TMP/E/metrics.jsonl" > "$TMP/E30.metrics"
expect_exit 0 "$PEER" train --resume "$TMP/E" --set train.steps=40
strip_timing "$TMP/E/metrics.jsonl" > "$TMP/E40.metrics"
[[ "$(head -n "$(wc -l < "$TMP/E30.metrics")" "$TMP/E40.metrics")" == "$(cat "$TMP/E30.metrics")" ]] \
  || fail "extend: the rows of the first 30 steps changed"
grep -q '"split": "val", "step": 40' "$TMP/E40.metrics" || fail "extend: no val row at step 40"
[[ "$(json_get "$TMP/E/summary.json" steps)" == 40 ]] || fail "extend: summary.json steps is not 40"
grep -q 'steps = 40' "$TMP/E/config.toml" || fail "extend: config.toml does not say steps = 40"

note "resume a finished run"
train_run "$TMP/F" "$TMP/short.toml"
before_val="$(json_get "$TMP/F/summary.json" final_val_loss)"
before_best="$(json_get "$TMP/F/summary.json" best_val_loss)"
cp "$TMP/F/metrics.jsonl" "$TMP/F.metrics"
run_cmd "$PEER" train --resume "$TMP/F"
# Either a no-op (exit 0) or a refusal (exit 2); never a changed result.
[[ $LAST_RC == 0 || $LAST_RC == 2 ]] || fail "resume of a finished run exited $LAST_RC, expected 0 or 2"
cmp -s "$TMP/F.metrics" "$TMP/F/metrics.jsonl" || fail "resume of a finished run changed metrics.jsonl"
[[ "$(json_get "$TMP/F/summary.json" final_val_loss)" == "$before_val" ]] \
  || fail "resume of a finished run rewrote summary.json: final_val_loss $before_val -> $(json_get "$TMP/F/summary.json" final_val_loss)"
[[ "$(json_get "$TMP/F/summary.json" best_val_loss)" == "$before_best" ]] \
  || fail "resume of a finished run rewrote summary.json: best_val_loss $before_best -> $(json_get "$TMP/F/summary.json" best_val_loss)"
! grep -q 'val loss 0.0000' "$LAST_OUT" || fail "resume of a finished run printed 'val loss 0.0000': $(cat "$LAST_OUT")"

note "ok"
