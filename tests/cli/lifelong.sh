# `peer run` lifelong streams (experiments/lifelong/run.h): three generated text domains, every method.
#  1. the run exits 0 and writes results.csv (a row per method), loss_matrix.csv, pool_usage.csv
#     and report.md (the comparison section and every loss matrix);
#  2. peer_freeze_add: pool 0 after the stream is bit-identical to pool 0 of a run that stopped
#     after phase 1 (and pool 1 to a run that stopped after phase 2), frozen pools have no
#     optimizer state, and every phase added a pool;
#  3. Ctrl-C in peer_freeze_add's second phase (exit 130) then the same command, SIGKILL in its
#     third phase then the same command, and SIGKILL in dense's first phase (before any
#     checkpoint) then the same command, all end with the loss matrix, checkpoint and
#     metrics.jsonl rows of a straight run;
#  4. running a finished stream again skips every method; a changed stream in the same folder,
#     and bad stream files (empty domain list, missing file, zero tokens, bad pool size, too
#     little text), exit 2 with a one-line message before anything trains.
# usage: bash lifelong.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"
SECONDS=0

mkdir -p "$TMP/data"
gen_domain "$TMP/data/news.txt" 20240601 "the a of and to in is was he it for on that with as his they at be this \
  from had by not word but what all were we when your can said there use an each which she do how"
gen_domain "$TMP/data/lore.txt" 777 "zephyr quixotic jazz vex wizard quartz fjord lynx sphinx jinx buzz fizz oxygen \
  xylem kiwi jokes quiz zigzag vortex pyx waltz"
gen_domain "$TMP/data/count.txt" 31337 "one two three four five six seven eight nine ten eleven twelve hundred \
  thousand million"
for d in news lore count; do
  [[ -z "$(tail -n +2 "$TMP/data/$d.txt" | tr -d 'a-z ,.\n')" ]] || fail "domain $d has unexpected characters"
done
cmp -s "$TMP/data/news.txt" "$TMP/data/lore.txt" && fail "the generated domains are identical"

# write_stream PATH [EXPERIMENT LINES] [-- DOMAINS...]: a lifelong experiment over the tiny model;
# DOMAINS (default news lore count) are names of files in $TMP/data.
write_stream() {
  local path="$1" exp="${2:-}"; shift 2 || shift $#
  local -a doms=(news lore count)
  [[ $# -gt 0 ]] && doms=("$@")
  {
    echo '[experiment]'
    echo 'kind = "lifelong"'
    echo 'description = "cli test stream"'
    [[ "$exp" == *tokens_per_phase* ]] || echo 'tokens_per_phase = 15360'  # 120 steps of 8 x 16
    [[ "$exp" == *eval_tokens* ]] || echo 'eval_tokens = 512'
    [[ "$exp" == *pool_size* ]] || echo 'pool_size = "8x8"'
    [[ -z "$exp" ]] || echo "$exp"
    cat <<'EOF'
[base.model]
n_embd = 16
n_head = 2
n_layer = 2
block_size = 16
dropout = 0.1
[base.moe]
num_experts = 4
top_k = 2
d_expert = 32
[base.peer]
num_experts = 64
heads = 2
top_k = 4
d_key = 8
[base.train]
batch_size = 8
lr = 3e-3
warmup_steps = 3
log_every = 2
seed = 7
threads = 1
EOF
    local d
    for d in "${doms[@]}"; do
      printf '[[domains]]\nname = "%s"\nfiles = ["%s"]\n' "$d" "$TMP/data/$d.txt"
    done
  } > "$path"
}

# pool_sums SUMS POOL: the lines of pool POOL's keys1, keys2, U and V in every layer.
pool_sums() { grep -E "^model\.blocks\.[0-9]+\.ffn\.pools\.$2\.(keys1|keys2|U|V) " "$1"; }

write_stream "$TMP/exp.toml" 'methods = ["dense", "moe", "peer", "peer_freeze_add", "joint"]'
METHODS=(dense moe peer peer_freeze_add joint)

note "straight run"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/A"
for f in results.csv loss_matrix.csv pool_usage.csv report.md experiment.toml; do
  [[ -s "$TMP/A/$f" ]] || fail "the stream did not write $f"
done
[[ $(wc -l < "$TMP/A/results.csv") == 6 ]] || fail "results.csv should hold a header and 5 rows: $(cat "$TMP/A/results.csv")"
head -n 1 "$TMP/A/results.csv" | grep -q '^method,ffn,phases,final_loss,avg_forgetting,backward_transfer,forward_transfer,' \
  || fail "results.csv header: $(head -n 1 "$TMP/A/results.csv")"
for m in dense:dense moe:moe peer:peer peer_freeze_add:peer joint:peer; do
  grep -q "^${m%%:*},${m#*:},3,[0-9]" "$TMP/A/results.csv" || fail "results.csv: no finished row '${m%%:*},${m#*:},3,...'"
done
# loss_matrix.csv: header + per method 3 losses before training + 3 phases x 3 domains
[[ $(wc -l < "$TMP/A/loss_matrix.csv") == $((1 + 5 * 12)) ]] || fail "loss_matrix.csv has $(wc -l < "$TMP/A/loss_matrix.csv") lines, expected 61"
head -n 1 "$TMP/A/loss_matrix.csv" | grep -qx 'method,phase,trained_on,domain,loss,seed' || fail "loss_matrix.csv header"
grep -q '^peer,2,lore,count,[0-9]' "$TMP/A/loss_matrix.csv" || fail "loss_matrix.csv: no row for peer after phase 2 on count"
grep -q '^joint,1,all,news,[0-9]' "$TMP/A/loss_matrix.csv" || fail "loss_matrix.csv: joint's phases should be 'all'"
python3 - "$TMP/A/pool_usage.csv" <<'PY' || fail "pool_usage.csv is wrong: $(head -n 20 "$TMP/A/pool_usage.csv")"
import collections, csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
pools = collections.defaultdict(set); total = collections.defaultdict(float)
for r in rows:
    pools[(r['method'], int(r['phase']))].add(int(r['pool']))
    total[(r['method'], r['phase'], r['domain'])] += float(r['share'])
assert not any(m in ('dense', 'moe') for m, _ in pools), 'rows for a method without PEER'
for p in (1, 2, 3):
    assert pools[('peer_freeze_add', p)] == set(range(p)), ('freeze_add pools', p, pools[('peer_freeze_add', p)])
    assert pools[('peer', p)] == {0}, 'peer has one pool'
    assert pools[('joint', p)] == {0, 1, 2}, 'joint has the final architecture of freeze-and-add from the start'
for k, s in total.items(): assert abs(s - 1) < 1e-4, ('shares do not sum to 1', k, s)
PY
grep -q '## Conclusion' "$TMP/A/report.md" || fail "report.md has no conclusion"
grep -q 'Sequential \*\*dense\*\* forgot' "$TMP/A/report.md" || fail "the conclusion does not state dense's forgetting"
grep -q '\*\*peer_freeze_add\*\* (freeze-and-add.*against peer: forgetting' "$TMP/A/report.md" \
  || fail "the conclusion does not compare peer_freeze_add with peer"
for t in 'Final loss' 'Average forgetting' 'Backward transfer' 'Forward transfer'; do
  grep -qx "### $t" "$TMP/A/report.md" || fail "report.md has no table of $t"
done
grep -q '## Loss matrices' "$TMP/A/report.md" || fail "report.md has no loss matrices"
for m in "${METHODS[@]}"; do
  grep -qx "### $m" "$TMP/A/report.md" || fail "report.md has no loss matrix for $m"
done
grep -q '| 3: count |' "$TMP/A/report.md" || fail "report.md's matrices do not name the phase's domain"
grep -q 'Not finished' "$TMP/A/report.md" && fail "report.md says a method did not finish"
if command -v gnuplot > /dev/null; then
  [[ "$(head -c 4 "$TMP/A/loss_over_stream.png" | tail -c 3)" == PNG ]] || fail "loss_over_stream.png is missing or not a PNG"
else
  note "gnuplot not installed: plot files not checked"
fi
for m in "${METHODS[@]}"; do
  [[ $(json_get "$TMP/A/methods/$m/state.json" finished) == True ]] || fail "method $m: state.json is not finished"
done

note "frozen pools are bit-identical"
# The same stream, peer_freeze_add only, stopping after phase 1 (news) and after phase 2 (lore):
# same vocabulary, seed and global steps, so the same training in those phases.
write_stream "$TMP/p1.toml" 'methods = ["peer_freeze_add"]' news
write_stream "$TMP/p2.toml" 'methods = ["peer_freeze_add"]' news lore
expect_exit 0 "$PEER" run "$TMP/p1.toml" --out "$TMP/P1"
expect_exit 0 "$PEER" run "$TMP/p2.toml" --out "$TMP/P2"
# Sanity: the phase-1 loss on news is the full stream's.
[[ "$(grep '^peer_freeze_add,1,news,news,' "$TMP/P1/loss_matrix.csv")" == "$(grep '^peer_freeze_add,1,news,news,' "$TMP/A/loss_matrix.csv")" ]] \
  || fail "phase 1 of the one-domain stream differs from phase 1 of the full stream"
tensor_sums "$TMP/P1/methods/peer_freeze_add/checkpoint.safetensors" > "$TMP/p1.sums"
tensor_sums "$TMP/P2/methods/peer_freeze_add/checkpoint.safetensors" > "$TMP/p2.sums"
tensor_sums "$TMP/A/methods/peer_freeze_add/checkpoint.safetensors" > "$TMP/a.sums"
[[ $(pool_sums "$TMP/p1.sums" 0 | wc -l) == 8 ]] || fail "expected keys1, keys2, U, V of pool 0 in 2 layers: $(pool_sums "$TMP/p1.sums" 0)"
grep -q 'pools\.1\.' "$TMP/p1.sums" && fail "a one-domain stream added a pool"
diff -u <(pool_sums "$TMP/p1.sums" 0) <(pool_sums "$TMP/a.sums" 0) >&2 || fail "pool 0 changed after phase 1 (it is frozen)"
diff -u <(pool_sums "$TMP/p1.sums" 0) <(pool_sums "$TMP/p2.sums" 0) >&2 || fail "pool 0 changed in phase 2 (it is frozen)"
diff -u <(pool_sums "$TMP/p2.sums" 1) <(pool_sums "$TMP/a.sums" 1) >&2 || fail "pool 1 changed after phase 2 (it is frozen)"
[[ $(pool_sums "$TMP/a.sums" 1 | wc -l) == 8 && $(pool_sums "$TMP/a.sums" 2 | wc -l) == 8 ]] \
  || fail "after 3 phases every layer should have pools 0, 1 and 2"
grep -q 'pools\.3\.' "$TMP/a.sums" && fail "more pools than phases"
[[ "$(pool_sums "$TMP/p2.sums" 1 | grep '\.U ' | cut -d' ' -f2)" != "$(pool_sums "$TMP/a.sums" 2 | grep '\.U ' | cut -d' ' -f2)" ]] \
  || fail "pool 2 holds the same U as pool 1"
grep -q '^optim\.[mv]\..*\.pools\.[01]\.' "$TMP/a.sums" && fail "frozen pools 0 and 1 kept optimizer state"
grep -q '^optim\.[mv]\..*\.pools\.0\.' "$TMP/p2.sums" && fail "frozen pool 0 kept optimizer state after phase 2"
for l in 0 1; do
  for t in keys1 keys2 U V; do
    grep -q "^optim.m.blocks.$l.ffn.pools.2.$t " "$TMP/a.sums" || fail "the trained pool 2 has no optimizer state for $t"
  done
done
grep -q '^optim\.m\..*\.pools\.0\.U ' "$TMP/p1.sums" || fail "pool 0 has no optimizer state while it trains"
# the query networks and the rest still train (default freeze options)
grep -q '^optim\.m\.blocks\.0\.ffn\.query' "$TMP/a.sums" || fail "the query network lost its optimizer state"
# state.json: the same pool size added per phase, the frozen part not trained, and the CRC-32 the
# run recorded for each frozen tensor is the CRC of that tensor in the final checkpoint (and only
# pools 0 and 1 are frozen)
python3 - "$TMP/A/methods/peer_freeze_add/state.json" "$TMP/a.sums" <<'PY' || fail "peer_freeze_add's state.json: $(cat "$TMP/A/methods/peer_freeze_add/state.json")"
import json, re, sys
s = json.load(open(sys.argv[1]))
sums = dict(line.split() for line in open(sys.argv[2]))
p, t = s['params'], s['trainable']
assert s['pools'] == [1, 2, 3], s['pools']
assert p[1] - p[0] == p[2] - p[1] > 0, p
assert t[0] == p[0] and t[1] < p[1] and t[2] == t[1], (p, t)
frozen = dict(s['frozen_crc'])
assert set(frozen) == {f'blocks.{l}.ffn.pools.{q}.{n}' for l in (0, 1) for q in (0, 1) for n in ('keys1', 'keys2', 'U', 'V')}, sorted(frozen)
for name, crc in frozen.items(): assert int(sums['model.' + name]) == crc, (name, crc, sums['model.' + name])
PY
grep -q 'Frozen weights of peer_freeze_add (seed 7): .* 16 frozen tensors' "$TMP/A/report.md" || fail "report.md does not state the frozen-tensor check"

# same_metrics DIR WHAT [METHOD]...: each METHOD's (default all) metrics.jsonl in DIR equals the
# straight run's (timing removed): rows past a restored checkpoint are dropped before training
# resumes, none repeat.
same_metrics() {
  local dir="$1" what="$2" m; shift 2
  local -a ms=("${METHODS[@]}")
  [[ $# -gt 0 ]] && ms=("$@")
  for m in "${ms[@]}"; do
    [[ -s "$TMP/A/methods/$m/metrics.jsonl" && -s "$dir/methods/$m/metrics.jsonl" ]] || fail "no metrics.jsonl of $m in $dir"
    diff -u <(grep -v '"split":"train"' "$TMP/A/methods/$m/metrics.jsonl" | strip_timing /dev/stdin) \
      <(grep -v '"split":"train"' "$dir/methods/$m/metrics.jsonl" | strip_timing /dev/stdin) >&2 \
      || fail "method $m: the domain rows of metrics.jsonl $what differ from the straight run"
    diff -u <(strip_timing "$TMP/A/methods/$m/metrics.jsonl") <(strip_timing "$dir/methods/$m/metrics.jsonl") >&2 \
      || fail "method $m: metrics.jsonl $what differs from the straight run"
  done
}

note "Ctrl-C in peer_freeze_add's phase 2 or 3, then the same command"
# signal_stream SIG EXP OUT METHOD PHASE: runs `peer run EXP --out OUT` in the background, sends
# SIG once METHOD logs a training row of PHASE, and waits; sets LAST_RC.
signal_stream() {
  local sig="$1" exp="$2" out="$3" method="$4" phase="$5" _
  local log="$out/methods/$method/metrics.jsonl" row="\"phase\":$phase,\"split\":\"train\""
  LAST_CMD="peer run $(basename "$exp") --out $(basename "$out") (then SIG$sig)"
  "$PEER" run "$exp" --out "$out" > "$LAST_OUT" 2> "$LAST_ERR" < /dev/null &
  local pid=$!
  for _ in $(seq 1 6000); do
    grep -q "$row" "$log" 2> /dev/null && break
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.01
  done
  grep -q "$row" "$log" 2> /dev/null || { kill -KILL "$pid" 2> /dev/null; fail "$LAST_CMD: $method never reached phase $phase"; }
  kill -"$sig" "$pid"
  set +e; wait "$pid" 2> /dev/null; LAST_RC=$?; set -e
}
signal_stream INT "$TMP/exp.toml" "$TMP/B" peer_freeze_add 2
[[ $LAST_RC == 130 ]] || fail "the interrupted stream exited $LAST_RC, expected 130"
# It lands in phase 2 or 3 of peer_freeze_add (after a freeze-and-add): 2 x 120 steps of margin.
at=$(grep -o 'interrupted: peer_freeze_add at phase [23] step [0-9]*' "$LAST_ERR") \
  || fail "the interrupt did not land in peer_freeze_add's phase 2 or 3 (steps too fast?)"
note "  $at"
[[ ! -d "$TMP/B/methods/joint" ]] || fail "joint started although the stream was interrupted"
grep -q 'Not finished: peer_freeze_add' "$TMP/B/report.md" || fail "the partial report.md does not say what is unfinished"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/B"
for m in dense moe peer; do expect_stderr_contains "'$m': done, skipped"; done
grep -q "peer_freeze_add phase 1\]" "$LAST_ERR" && fail "the resumed run trained phase 1 again"
# it continues after the interrupted step: no earlier step of that phase is trained again
phase=$(echo "$at" | awk '{print $5}'); step=$(echo "$at" | awk '{print $7}')
first=$(grep -o "^\[peer_freeze_add phase $phase\] step [0-9]*" "$LAST_ERR" | head -n 1 | awk '{print $5}')
[[ -n "$first" && "$first" -gt "$step" ]] || fail "the resumed run restarted phase $phase at step ${first:-?}, not after step $step"
diff -u "$TMP/A/loss_matrix.csv" "$TMP/B/loss_matrix.csv" >&2 || fail "loss_matrix.csv after Ctrl-C and resume differs from the straight run"
# every column but the timing ones (tokens_per_s, train_s)
diff -u <(cut -d, -f1-11 "$TMP/A/results.csv") <(cut -d, -f1-11 "$TMP/B/results.csv") >&2 || fail "results.csv after resume differs"
cmp -s "$TMP/A/pool_usage.csv" "$TMP/B/pool_usage.csv" || fail "pool_usage.csv after resume differs"
same_metrics "$TMP/B" "after Ctrl-C and resume"
tensor_sums "$TMP/B/methods/peer_freeze_add/checkpoint.safetensors" | diff -u "$TMP/a.sums" - >&2 \
  || fail "peer_freeze_add's checkpoint after resume differs from the straight run"

note "SIGKILL in peer_freeze_add's phase 3 (or later), then the same command"
signal_stream KILL "$TMP/exp.toml" "$TMP/C" peer_freeze_add 3
[[ $LAST_RC == 137 ]] || fail "the killed stream exited $LAST_RC, expected 137 (SIGKILL before the end)"
[[ $(json_get "$TMP/C/methods/peer_freeze_add/state.json" finished) == False ]] \
  || note "  (the kill landed after peer_freeze_add, in joint)"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/C"
diff -u "$TMP/A/loss_matrix.csv" "$TMP/C/loss_matrix.csv" >&2 || fail "loss_matrix.csv after SIGKILL and rerun differs from the straight run"
tensor_sums "$TMP/C/methods/peer_freeze_add/checkpoint.safetensors" | diff -u "$TMP/a.sums" - >&2 \
  || fail "peer_freeze_add's checkpoint after SIGKILL and rerun differs from the straight run"
same_metrics "$TMP/C" "after SIGKILL and rerun"

note "SIGKILL in dense's first phase (before any checkpoint), then the same command"
# dense alone: its results do not depend on the other methods
write_stream "$TMP/dense.toml" 'methods = ["dense"]'
signal_stream KILL "$TMP/dense.toml" "$TMP/D" dense 1
[[ $LAST_RC == 137 ]] || fail "the killed stream exited $LAST_RC, expected 137"
[[ ! -f "$TMP/D/methods/dense/checkpoint.safetensors" ]] || note "  (the kill landed after dense's first phase)"
expect_exit 0 "$PEER" run "$TMP/dense.toml" --out "$TMP/D"
diff -u <(grep '^dense,' "$TMP/A/loss_matrix.csv") <(grep '^dense,' "$TMP/D/loss_matrix.csv") >&2 \
  || fail "dense's losses after an early SIGKILL and rerun differ from the straight run"
same_metrics "$TMP/D" "after an early SIGKILL and rerun" dense

note "re-running a finished stream skips every method"
checksums "$TMP/A/methods" > "$TMP/A.sums"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/A"
for m in "${METHODS[@]}"; do expect_stderr_contains "'$m': done, skipped"; done
checksums "$TMP/A/methods" | diff -u "$TMP/A.sums" - >&2 || fail "the re-run changed the finished methods"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/A" --plan
expect_stdout_contains "peer_freeze_add"
[[ $(grep -c ' done$' "$LAST_OUT") == 5 ]] || fail "--plan should list 5 finished methods: $(cat "$LAST_OUT")"

note "--plan trains nothing and deletes nothing"
mkdir -p "$TMP/P/methods/dense" && echo keep > "$TMP/P/methods/dense/notes.txt"
expect_exit 0 "$PEER" run "$TMP/exp.toml" --out "$TMP/P" --plan
[[ -f "$TMP/P/methods/dense/notes.txt" ]] || fail "--plan deleted a method folder"
[[ ! -e "$TMP/P/results.csv" ]] || fail "--plan wrote results"

note "a method whose loss turns non-finite fails alone, and a rerun does not repeat it"
write_stream "$TMP/nan.toml" 'methods = ["dense", "peer"]' news lore
printf '[method.dense]\n"train.lr" = 1e30\n' >> "$TMP/nan.toml"
expect_exit 1 "$PEER" run "$TMP/nan.toml" --out "$TMP/N"
grep -qiE "dense: loss is (nan|inf)" "$LAST_ERR" || fail "the failure does not name the method and the loss"
grep -q "^Failed: dense (loss is" "$TMP/N/report.md" || fail "report.md does not list dense as failed"
grep -q "^peer," "$TMP/N/results.csv" || fail "peer should have finished after dense failed"
expect_exit 1 "$PEER" run "$TMP/nan.toml" --out "$TMP/N"
expect_stderr_contains "method 'dense' failed earlier"

note "a changed stream in the same folder is refused"
# 120 steps -> 128 steps per phase: another config for every method
sed 's/^tokens_per_phase = 15360/tokens_per_phase = 16384/' "$TMP/exp.toml" > "$TMP/changed.toml"
expect_usage_error "$PEER run $TMP/changed.toml --out $TMP/A" "method 'dense'" "another config"
# 15300 tokens is still 120 steps (the same method configs), but another stream
sed 's/^tokens_per_phase = 15360/tokens_per_phase = 15300/' "$TMP/exp.toml" > "$TMP/changed2.toml"
expect_usage_error "$PEER run $TMP/changed2.toml --out $TMP/A" "method 'dense'" "another stream"
checksums "$TMP/A/methods" | diff -u "$TMP/A.sums" - >&2 || fail "a refused run changed the finished methods"

note "bad stream files"
# bad NAME TEXT...: the experiment $TMP/bad_NAME.toml exits 2 with a one-line error holding TEXT,
# and creates no output folder.
bad() {
  local name="$1"; shift
  expect_usage_error "$PEER run $TMP/bad_$name.toml --out $TMP/bad_out" "$@"
  [[ ! -e "$TMP/bad_out" ]] || fail "bad_$name: the refused run created its output folder"
}
{ echo 'domains = []'; write_stream /dev/stdout 'methods = ["dense"]' none_at_all; } \
  | grep -v -e '^\[\[domains\]\]' -e '^name = "none_at_all"' -e 'none_at_all.txt' > "$TMP/bad_empty.toml"
bad empty "domain list is empty"
write_stream "$TMP/bad_missing.toml" 'methods = ["dense"]' news gone
bad missing "domain 'gone'" "$TMP/data/gone.txt"
write_stream "$TMP/bad_zero.toml" $'methods = ["dense"]\ntokens_per_phase = 0'
bad zero "tokens_per_phase" "must be > 0"
write_stream "$TMP/bad_pool.toml" $'methods = ["peer_freeze_add"]\npool_size = "1000"'
bad pool "pool_size '1000'"
write_stream "$TMP/bad_pool2.toml" $'methods = ["peer_freeze_add"]\npool_size = "0x4"'
bad pool2 "pool_size '0x4'"
write_stream "$TMP/bad_long.toml" $'methods = ["dense"]\ntokens_per_phase = 100000'
bad long "domain 'news'" "training tokens" "tokens_per_phase"
write_stream "$TMP/bad_method.toml" 'methods = ["dense", "ewc"]'
bad method "unknown method 'ewc'"

note "ok (${SECONDS}s)"
