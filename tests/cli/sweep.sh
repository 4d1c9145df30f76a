# `peer run` sweeps (experiments/README.md):
#  1. a 2-variant sweep writes results.csv (a row per variant), report.md and PNG plots;
#  2. running it again skips the finished variants and leaves them untouched;
#  3. Ctrl-C during the second variant exits 130; running again resumes that variant from its
#     checkpoint (no step before it is retrained) and ends with the metrics of a straight sweep;
#  4. bad experiment files exit 2 with a one-line message before anything trains.
# usage: bash sweep.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"
make_corpus "$TMP/data"

# The base run config (lib.sh's tiny shape) in its own file, named by the experiment.
write_config "$TMP/base.toml" 'train.eval_every = 50' 'train.log_every = 5'
cat > "$TMP/exp.toml" <<'EOF'
base = "base.toml"
[experiment]
kind = "sweep"
steps = 1500
[variants.dense]
[variants.moe]
model.ffn = "moe"
moe = { num_experts = 4, top_k = 2, d_expert = 32, router = "topk" }
EOF

note "straight sweep"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/A"
for f in results.csv report.md variants/dense/summary.json variants/moe/summary.json; do
  [[ -f "$TMP/A/$f" ]] || fail "the sweep did not write $f"
done
[[ $(wc -l < "$TMP/A/results.csv") == 3 ]] || fail "results.csv should hold a header and 2 rows: $(cat "$TMP/A/results.csv")"
head -n 1 "$TMP/A/results.csv" | grep -q '^variant,ffn,granularity,total_params,active_params_per_token,' \
  || fail "results.csv header: $(head -n 1 "$TMP/A/results.csv")"
for col in training_flops final_val_loss best_val_loss tokens_per_s wall_s peak_rss_mb commit device threads date; do
  head -n 1 "$TMP/A/results.csv" | tr ',' '\n' | grep -qx "$col" || fail "results.csv has no column $col"
done
grep -q '^moe,moe,4,' "$TMP/A/results.csv" || fail "results.csv: no moe row with G = d_ff 128 / d_expert 32 = 4"
grep -q '^dense,dense,,' "$TMP/A/results.csv" || fail "results.csv: no dense row (without G)"
grep -q '(best)' "$TMP/A/report.md" || fail "report.md does not mark the best variant"
grep -q 'commit' "$TMP/A/report.md" || fail "report.md does not record the commit"
if command -v gnuplot > /dev/null; then
  for png in val_loss_vs_tokens val_loss_vs_flops final_val_loss_vs_granularity; do
    [[ "$(head -c 4 "$TMP/A/$png.png" | tail -c 3)" == PNG ]] || fail "$png.png is missing or not a PNG"
  done
else
  note "gnuplot not installed: plot files not checked"
fi

note "re-run skips finished variants"
checksums "$TMP/A/variants" > "$TMP/A.sums"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/A"
expect_stderr_contains "'dense': done"
expect_stderr_contains "'moe': done"
! grep -q '\[train\] step' "$LAST_ERR" || fail "the re-run trained again"
checksums "$TMP/A/variants" | diff -u "$TMP/A.sums" - >&2 || fail "the re-run changed the finished variants"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/A" --plan
expect_stdout_contains "done"

note "Ctrl-C in the second variant, then resume"
LAST_CMD="peer run exp.toml --out B (then SIGINT)"
"$PEER" run "$TMP/exp.toml" --out "$TMP/B" > "$LAST_OUT" 2> "$LAST_ERR" < /dev/null &
pid=$!
for _ in $(seq 1 12000); do
  [[ -f "$TMP/B/variants/moe/checkpoint.safetensors" ]] && break
  kill -0 "$pid" 2> /dev/null || break
  sleep 0.01
done
[[ -f "$TMP/B/variants/moe/checkpoint.safetensors" ]] || { kill -KILL "$pid" 2> /dev/null; fail "no checkpoint of the second variant within 120 s"; }
kill -INT "$pid"
set +e; wait "$pid"; rc=$?; set -e
[[ $rc == 130 ]] || fail "the interrupted sweep exited $rc, expected 130"
[[ ! -f "$TMP/B/variants/moe/summary.json" ]] || fail "the interrupted variant already has a summary.json (sweep too short to interrupt?)"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/B"
expect_stderr_contains "'dense': done"
expect_stderr_contains "resuming from its checkpoint at step"
! grep -q '\[train\] step 5/' "$LAST_ERR" || fail "the resumed variant started again from step 0"
for v in dense moe; do
  diff -u <(strip_timing "$TMP/A/variants/$v/metrics.jsonl") <(strip_timing "$TMP/B/variants/$v/metrics.jsonl") >&2 \
    || fail "variant $v: metrics of the interrupted and resumed sweep differ from the straight sweep"
done
[[ $(wc -l < "$TMP/B/results.csv") == 3 ]] || fail "results.csv after resuming should have 2 rows"

note "bad experiment files exit 2 before training"
bad() {  # bad NAME TEXT EXPECTED...: NAME.toml holding TEXT is refused with a message holding EXPECTED
  local name="$1" text="$2"; shift 2
  printf '%s\n' "$text" > "$TMP/$name.toml"
  expect_usage_error "$PEER run $TMP/$name.toml --out $TMP/bad" "$@"
  [[ ! -e "$TMP/bad" ]] || fail "$name: the refused sweep created its output folder"
}
ok_head='base = "base.toml"
[experiment]
kind = "sweep"'
bad unknown_exp_key "$ok_head
seeds = 3
[variants.a]" "unknown [experiment] key 'seeds'"
bad unknown_variant_key "$ok_head
[variants.a]
\"moe.num_expert\" = 8" "variant 'a'" "unknown config key 'moe.num_expert'"
bad bad_variant_value "$ok_head
[variants.a]
moe.top_k = 64" "variant 'a'" "moe.top_k"
bad zero_budget "$ok_head
steps = 0
[variants.a]" "steps = 0" "must be > 0"
bad negative_budget "$ok_head
flops = -5e9
[variants.a]" "flops" "must be > 0"
bad tiny_budget "$ok_head
flops = 1000.0
[variants.a]" "variant 'a'" "less than one training step"
bad no_variants "$ok_head" "no variants"
bad empty_variants "$ok_head
[variants]" "no variants"
bad unknown_kind "base = \"base.toml\"
[experiment]
kind = \"grid\"
[variants.a]" "kind must be"
bad lifelong "base = \"base.toml\"
[experiment]
kind = \"lifelong\"
[variants.a]" "unknown top-level key 'variants'"
bad missing_base "base = \"nope.toml\"
[experiment]
kind = \"sweep\"
[variants.a]" "nope.toml"
bad budget_and_steps "$ok_head
steps = 10
[variants.a]
train.steps = 5" "train.steps"
sed 's/^steps = 1500/steps = 1400/' "$TMP/exp.toml" > "$TMP/changed.toml"
expect_usage_error "$PEER run $TMP/changed.toml --out $TMP/A" "variant 'dense'" "another config"

note "ok"
