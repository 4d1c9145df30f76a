# `peer run` sweeps (experiments/README.md):
#  1. a 2-variant sweep writes results.csv (a row per variant), report.md and plots;
#  2. running it again skips the finished variants and leaves them untouched; --plan shows each
#     variant's granularity and FLOPs per component;
#  3. Ctrl-C during the second variant exits 130; running again resumes that variant from its
#     checkpoint (no step before it is retrained) and ends with the metrics of a straight sweep;
#  4. seeds = [1, 2]: a row per (variant, seed), each seed really used, mean and std per variant;
#     an iso-FLOP budget: every variant ends its own schedule, the report compares at equal FLOPs,
#     shows each variant's steps (not the base's), plots come as PNG, SVG and PDF, the ETA of an
#     untimed kind is not guessed; --plan names variants with fewer than 10 evaluations;
#  5. bad experiment files exit 2 with a one-line message before anything trains.
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
for f in results.csv results_summary.csv accounting.csv report.md variants/dense/seed-7/summary.json \
  variants/moe/seed-7/summary.json; do
  [[ -f "$TMP/A/$f" ]] || fail "the sweep did not write $f"
done
[[ $(wc -l < "$TMP/A/results.csv") == 3 ]] || fail "results.csv should hold a header and 2 rows: $(cat "$TMP/A/results.csv")"
head -n 1 "$TMP/A/results.csv" | grep -q '^variant,seed,ffn,granularity,total_params,active_params_per_token,' \
  || fail "results.csv header: $(head -n 1 "$TMP/A/results.csv")"
for col in fwd_flops_per_token bwd_flops_per_token train_flops_per_token training_flops final_val_loss best_val_loss tokens_per_s wall_s peak_rss_mb commit device threads date; do
  head -n 1 "$TMP/A/results.csv" | tr ',' '\n' | grep -qx "$col" || fail "results.csv has no column $col"
done
grep -q '^moe,7,moe,2,' "$TMP/A/results.csv" || fail "results.csv: no moe row (seed 7) with G = top_k = 2"
grep -q '^dense,7,dense,1,' "$TMP/A/results.csv" || fail "results.csv: no dense row (seed 7, G 1)"
grep -q '^## At equal tokens' "$TMP/A/report.md" || fail "report.md has no equal-tokens section"
grep -A 3 '^## At equal tokens' "$TMP/A/report.md" | grep -q '| rank |' || fail "report.md: no equal-tokens table"
grep -A 2 '^## At equal training FLOPs' "$TMP/A/report.md" | grep -q 'Not compared' \
  || fail "report.md compares an iso-step sweep at equal FLOPs"
grep -q '| tied |' "$TMP/A/report.md" || fail "report.md calls a one-seed variant best (no spread)"
grep -q 'commit' "$TMP/A/report.md" || fail "report.md does not record the commit"
if command -v gnuplot > /dev/null; then
  for png in val_loss_vs_tokens val_loss_vs_flops val_loss_vs_time final_val_loss_vs_granularity; do
    [[ "$(head -c 4 "$TMP/A/$png.png" | tail -c 3)" == PNG ]] || fail "$png.png is missing or not a PNG"
  done
else
  note "gnuplot not installed: plot files not checked"
fi

note "re-run skips finished variants"
checksums "$TMP/A/variants" > "$TMP/A.sums"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/A"
expect_stderr_contains "'dense seed 7': done"
expect_stderr_contains "'moe seed 7': done"
! grep -q '\[train\] step' "$LAST_ERR" || fail "the re-run trained again"
checksums "$TMP/A/variants" | diff -u "$TMP/A.sums" - >&2 || fail "the re-run changed the finished variants"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/A" --plan
expect_stdout_contains "7: done"
for part in attention query sub_keys top_k experts router dispatch head; do expect_stdout_contains "$part"; done
grep -E '^moe +moe +2 ' "$LAST_OUT" > /dev/null || fail "--plan: no moe line with G 2: $(cat "$LAST_OUT")"

note "Ctrl-C in the second variant, then resume"
LAST_CMD="peer run exp.toml --out B (then SIGINT)"
"$PEER" run "$TMP/exp.toml" --out "$TMP/B" > "$LAST_OUT" 2> "$LAST_ERR" < /dev/null &
pid=$!
for _ in $(seq 1 12000); do
  [[ -f "$TMP/B/variants/moe/seed-7/checkpoint.safetensors" ]] && break
  kill -0 "$pid" 2> /dev/null || break
  sleep 0.01
done
[[ -f "$TMP/B/variants/moe/seed-7/checkpoint.safetensors" ]] || { kill -KILL "$pid" 2> /dev/null; fail "no checkpoint of the second variant within 120 s"; }
kill -INT "$pid"
set +e; wait "$pid"; rc=$?; set -e
[[ $rc == 130 ]] || fail "the interrupted sweep exited $rc, expected 130"
[[ ! -f "$TMP/B/variants/moe/seed-7/summary.json" ]] || fail "the interrupted variant already has a summary.json (sweep too short to interrupt?)"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/B"
expect_stderr_contains "'dense seed 7': done"
expect_stderr_contains "resuming from its checkpoint at step"
! grep -q '\[train\] step 5/' "$LAST_ERR" || fail "the resumed variant started again from step 0"
for v in dense moe; do
  diff -u <(strip_timing "$TMP/A/variants/$v/seed-7/metrics.jsonl") \
    <(strip_timing "$TMP/B/variants/$v/seed-7/metrics.jsonl") >&2 \
    || fail "variant $v: metrics of the interrupted and resumed sweep differ from the straight sweep"
done
[[ $(wc -l < "$TMP/B/results.csv") == 3 ]] || fail "results.csv after resuming should have 2 rows"

note "seeds and an iso-FLOP budget"
cat > "$TMP/seeds.toml" <<'EOF'
base = "base.toml"
[experiment]
kind = "sweep"
flops = 3e9
seeds = [1, 2]
[variants.dense]
[variants.peer]
model.ffn = "peer"
peer = { num_experts = 256, heads = 2, top_k = 4, d_key = 16 }
EOF
expect_exit 0 "$PEER" run "$TMP/seeds.toml" --out "$TMP/S"
[[ $(wc -l < "$TMP/S/results.csv") == 5 ]] || fail "results.csv should hold a header and 2 x 2 rows: $(cat "$TMP/S/results.csv")"
for v in dense peer; do
  for s in 1 2; do
    grep -q "^$v,$s," "$TMP/S/results.csv" || fail "results.csv has no row for $v seed $s"
    grep -qx "seed = $s" "$TMP/S/variants/$v/seed-$s/config.toml" || fail "$v seed-$s did not train with seed $s"
  done
  ! cmp -s "$TMP/S/variants/$v/seed-1/metrics.jsonl" "$TMP/S/variants/$v/seed-2/metrics.jsonl" \
    || fail "$v: seeds 1 and 2 trained identically"
  # Each variant ends its own warmup + cosine schedule: lr near its last step (logged every 5)
  # is lr * min_lr_ratio = 3e-4 within 2%.
  grep '"split":"train"' "$TMP/S/variants/$v/seed-1/metrics.jsonl" | tail -n 1 \
    | python3 -c 'import json, sys; lr = json.loads(sys.stdin.read())["lr"]; sys.exit(not 3e-4 <= lr < 3.06e-4)' \
    || fail "$v: the last logged lr is not the end of its schedule (3e-4)"
done
[[ $(wc -l < "$TMP/S/results_summary.csv") == 3 ]] || fail "results_summary.csv should hold 2 variants"
python3 - "$TMP/S/results_summary.csv" "$TMP/S/results.csv" <<'PY' || fail "results_summary.csv is not the mean and sample std of results.csv"
import csv, statistics, sys
summary = {r["variant"]: r for r in csv.DictReader(open(sys.argv[1]))}
runs = list(csv.DictReader(open(sys.argv[2])))
for v, s in summary.items():
    losses = [float(r["final_val_loss"]) for r in runs if r["variant"] == v]
    assert int(s["seeds"]) == 2, s
    assert abs(float(s["final_val_loss_mean"]) - statistics.mean(losses)) < 2e-6, (s, losses)
    assert abs(float(s["final_val_loss_std"]) - statistics.stdev(losses)) < 2e-6, (s, losses)
PY
steps_dense=$(grep '^dense,1,' "$TMP/S/results.csv" | cut -d, -f11)
steps_peer=$(grep '^peer,1,' "$TMP/S/results.csv" | cut -d, -f11)
(( steps_peer > steps_dense )) || fail "iso-FLOP: peer ($steps_peer steps) should train longer than dense ($steps_dense)"
grep -A 3 '^## At equal training FLOPs' "$TMP/S/report.md" | grep -q '| rank |' || fail "report.md: no equal-FLOPs table"
grep -A 2 '^## At equal tokens' "$TMP/S/report.md" | grep -q 'Not compared' \
  || fail "report.md compares an iso-FLOP sweep at equal tokens"
grep -q ' ± ' "$TMP/S/report.md" || fail "report.md shows no mean ± std"
# The ETA goes by measured cost: the first peer job is not timed by dense's rate.
expect_stderr_contains "sweep ETA ~"
expect_stderr_contains "+ 2 jobs not timed yet (peer)"
! grep '^\[run\] job' "$LAST_ERR" | grep -q 'e+0' || fail "job lines print raw scientific numbers: $(grep '^\[run\] job' "$LAST_ERR")"
# The config as run: the budget's steps per variant, never the base's train.steps (30) no job ran.
grep -qx "# steps differs: $steps_dense (dense); $steps_peer (peer)" "$TMP/S/report.md" \
  || fail "report.md's config as run does not give each variant's steps: $(grep -n 'steps' "$TMP/S/report.md")"
! grep -qx 'steps = 30' "$TMP/S/report.md" || fail "report.md shows the base's steps = 30 that no job ran"
grep -q "^- \*\*peer\*\*: .*; $steps_peer steps, " "$TMP/S/report.md" || fail "report.md's variant list has no steps"
if command -v gnuplot > /dev/null; then
  grep -q 'yerrorlines' "$TMP/S/plots/plots.gp" || fail "plots.gp draws no error bars"
  grep -q 'set key inside' "$TMP/S/plots/plots.gp" || fail "plots.gp puts the legend outside the plot"
  grep -q '^  set xtics ("0" 0, ' "$TMP/S/plots/plots.gp" || fail "plots.gp has no SI tick labels"
  exts="png svg"
  gnuplot -e 'set terminal' 2>&1 | grep -qw pdfcairo && exts="$exts pdf"
  for plot in val_loss_vs_tokens val_loss_vs_flops val_loss_vs_time final_val_loss_vs_granularity; do
    for ext in $exts; do [[ -s "$TMP/S/$plot.$ext" ]] || fail "no $plot.$ext"; done
  done
  head -c 5 "$TMP/S/val_loss_vs_tokens.svg" | grep -q '<?xml' || fail "val_loss_vs_tokens.svg is not SVG"
  [[ $exts != *pdf ]] || [[ "$(head -c 4 "$TMP/S/val_loss_vs_tokens.pdf")" == %PDF ]] || fail "the PDF is not a PDF"
fi

note "--plan names variants with fewer than 10 evaluations"
cat > "$TMP/coarse.toml" <<'EOF'
base = "base.toml"
[experiment]
kind = "sweep"
steps = 100
[variants.fine]
train.eval_every = 10
[variants.coarse]
train.eval_every = 25
EOF
expect_exit 0 "$PEER" run "$TMP/coarse.toml" --out "$TMP/C" --plan
grep -E '^coarse +dense +1 +100 +4 ' "$LAST_OUT" > /dev/null || fail "--plan: no coarse line with 4 evals: $(cat "$LAST_OUT")"
expect_stdout_contains "note: coarse evaluate fewer than 10 times"

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
seed = 3
[variants.a]" "unknown [experiment] key 'seed'"
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
