# `peer sample` and `peer eval` on a short run, and --help of every command (experiments/README.md).
# usage: bash sample_eval.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"
make_corpus "$TMP/data"
write_config "$TMP/c.toml" 'train.steps = 40' 'train.eval_every = 20'
RUN="$TMP/run"
train_run "$RUN" "$TMP/c.toml"

note "sample"
expect_exit 0 "$PEER" sample "$RUN" --tokens 50 --seed 3
cp "$LAST_OUT" "$TMP/s1"
# A byte-level model: 50 tokens are 50 bytes, then the newline the command adds.
[[ $(wc -c < "$TMP/s1") == 51 ]] || fail "sample --tokens 50 printed $(wc -c < "$TMP/s1") bytes, expected 50 + newline"
[[ -n "$(tr -d ' \n' < "$TMP/s1")" ]] || fail "sample printed only blanks"
[[ -z "$(tr -d 'a-z ,.\n' < "$TMP/s1")" ]] || fail "sample printed bytes outside the corpus alphabet: $(cat "$TMP/s1")"
expect_exit 0 "$PEER" sample "$RUN" --tokens 50 --seed 3
cmp -s "$TMP/s1" "$LAST_OUT" || fail "sample --seed 3 twice gave different text: '$(cat "$TMP/s1")' vs '$(cat "$LAST_OUT")'"
expect_exit 0 "$PEER" sample "$RUN" --tokens 50 --seed 4
! cmp -s "$TMP/s1" "$LAST_OUT" || fail "sample --seed 3 and --seed 4 gave the same text"
expect_exit 0 "$PEER" sample "$RUN" --prompt "the water " --tokens 20 --temperature 0.5 --top-k 3 --seed 1
[[ "$(head -c 10 "$LAST_OUT")" == "the water " ]] || fail "sample --prompt: the output does not start with the prompt"
[[ $(wc -c < "$LAST_OUT") == 31 ]] || fail "sample --prompt P --tokens 20 printed $(wc -c < "$LAST_OUT") bytes, expected 10 + 20 + newline"
[[ -z "$(tr -d 'a-z ,.\n' < "$LAST_OUT")" ]] || fail "sample --top-k 3 printed bytes outside the corpus alphabet"
expect_exit 0 "$PEER" sample "$RUN" --tokens 0
[[ "$(cat "$LAST_OUT")" == "" ]] || fail "sample --tokens 0 printed text"

note "eval"
expect_exit 0 "$PEER" eval "$RUN"
[[ $(wc -l < "$LAST_OUT") == 1 ]] || fail "eval printed $(wc -l < "$LAST_OUT") lines, expected one JSON line"
python3 - "$LAST_OUT" "$RUN/summary.json" <<'EOF' || fail "eval DIR: bad JSON line (above)"
import json, math, sys
row = json.loads(open(sys.argv[1]).read())
summary = json.load(open(sys.argv[2]))
for key in ("train_loss", "val_loss"):
    v = row.get(key)
    assert isinstance(v, float) and math.isfinite(v) and 0 < v < 10, f"{key} = {v!r} in {row}"
assert row.get("step") == 40, f"step = {row.get('step')!r}, expected 40"
# eval's default batches are the run's own eval batches: the same numbers the run ended with.
assert row["val_loss"] == summary["final_val_loss"], f"val_loss {row['val_loss']} != summary {summary['final_val_loss']}"
assert row["train_loss"] == summary["final_train_loss"], f"train_loss {row['train_loss']} != summary {summary['final_train_loss']}"
EOF
expect_exit 0 "$PEER" eval "$RUN" --eval-batches 2
python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r["val_loss"] > 0 and r["train_loss"] > 0' "$LAST_OUT" \
  || fail "eval --eval-batches 2: no train_loss/val_loss"

note "eval --data"
head -c 3001 "$CORPUS" > "$TMP/part.txt"
expect_exit 0 "$PEER" eval "$RUN" --data "$TMP/part.txt"
python3 - "$LAST_OUT" "$TMP/part.txt" <<'EOF' || fail "eval --data: bad JSON line (above)"
import json, math, sys
row = json.loads(open(sys.argv[1]).read())
loss, tokens = row.get("loss"), row.get("tokens")
assert isinstance(loss, float) and math.isfinite(loss) and 0 < loss < 10, f"loss = {loss!r} in {row}"
# Consecutive windows of block_size (16) tokens over the 3001 bytes: (3001 - 1) // 16 * 16 scored.
assert tokens == 3000 // 16 * 16, f"tokens = {tokens!r}, expected {3000 // 16 * 16}"
assert row.get("data") == sys.argv[2], f"data = {row.get('data')!r}"
EOF
expect_exit 0 "$PEER" eval "$RUN" --data "$TMP/part.txt"
cp "$LAST_OUT" "$TMP/e1"
expect_exit 0 "$PEER" eval "$RUN" --data "$TMP/part.txt"
cmp -s "$TMP/e1" "$LAST_OUT" || fail "eval --data twice gave different results"

note "--help"
for args in "--help" "-h" "train --help" "eval --help" "sample --help" "data --help" "data prepare --help"; do
  # shellcheck disable=SC2086
  expect_exit 0 "$PEER" $args
  expect_stdout_contains "usage:"
done

note "ok"
