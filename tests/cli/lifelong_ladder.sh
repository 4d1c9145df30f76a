# Lifelong streams with a pretrain phase, the freeze-and-add ladder, controls and seeds
# (experiments/lifelong/methods.h, pretrain.h), on three generated domains and a pretrain text:
#  1. the pretrain checkpoint is trained once per model config and seed and every method of that
#     config starts from it; a second run (with another method added) trains no pretrain again;
#  2. peer_fa_bn: the query BatchNorm running statistics after the stream are bit-identical to
#     the pretrain checkpoint's; peer_freeze_add's are not (they follow the data);
#  3. peer_fa_oracle: every domain's retrievals go to its own pool only; the domains trained
#     before are not forgotten at all;
#  4. peer_replay (and its record) runs; seeds give a folder per method and seed and mean ± std;
#     rewarm = false gives one learning-rate schedule over the stream;
#  5. Ctrl-C during pretraining, then the same command, gives the loss matrix of a straight run.
# usage: bash lifelong_ladder.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"
SECONDS=0

mkdir -p "$TMP/data"
gen_domain "$TMP/data/news.txt" 11 the a of and to in is was he it for on that with as his they at be this from had by
gen_domain "$TMP/data/lore.txt" 12 zephyr quixotic jazz vex wizard quartz fjord lynx sphinx jinx buzz fizz oxygen kiwi
gen_domain "$TMP/data/count.txt" 13 one two three four five six seven eight nine ten eleven twelve hundred thousand
gen_domain "$TMP/data/pre.txt" 14 the a of one two three zephyr jazz and to in is alpha beta gamma delta

# write_stream PATH METHODS [EXPERIMENT LINES]: the stream over news, lore, count after pretraining.
write_stream() {
  {
    printf '[experiment]\nkind = "lifelong"\nmethods = [%s]\ntokens_per_phase = 5120\neval_tokens = 512\n' "$2"
    printf 'pool_size = "8x8"\nreplay_fraction = 0.1\nreplay_tokens = 2048\n%s\n' "${3:-}"
    printf '[pretrain]\nfiles = ["%s"]\ntokens = 5120\n' "$TMP/data/pre.txt"
    cat <<'EOF'
[base.model]
n_embd = 16
n_head = 2
n_layer = 2
block_size = 16
dropout = 0.0
[base.peer]
num_experts = 64
heads = 2
top_k = 4
d_key = 8
[base.train]
batch_size = 8
lr = 3e-3
warmup_steps = 3
log_every = 5
seed = 7
threads = 1
EOF
    local d
    for d in news lore count; do printf '[[domains]]\nname = "%s"\nfiles = ["%s"]\n' "$d" "$TMP/data/$d.txt"; done
  } > "$1"
}
# bn_stats SUMS: the query BatchNorm running statistics of every layer.
bn_stats() { grep -E '^model\.blocks\.[0-9]+\.ffn\.query_bn\.running_(mean|var) ' "$1"; }

note "pretrain once, shared by every method of a config"
write_stream "$TMP/a.toml" '"peer", "peer_freeze_add", "peer_fa_bn", "peer_fa_oracle"'
expect_exit 0 "$PEER" run "$TMP/a.toml" --out "$TMP/A"
[[ $(grep -c '^\[run\] pretraining' "$LAST_ERR") == 1 ]] || fail "four PEER methods of one config should pretrain once: $(grep pretraining "$LAST_ERR")"
pre=$(echo "$TMP"/A/shared/pretrain-peer-s7-*)
[[ -f "$pre/done.json" && -f "$pre/checkpoint.safetensors" ]] || fail "no finished pretrain folder: $(ls "$TMP/A/shared")"
tensor_sums "$pre/checkpoint.safetensors" > "$TMP/pre.sums"
# every method starts from it: before the stream, every method scores the pretrained model
python3 - "$TMP/A/loss_matrix.csv" <<'PY' || fail "the methods did not start from the same checkpoint: $(grep ',0,' "$TMP/A/loss_matrix.csv")"
import csv, sys
init = {}
for r in csv.DictReader(open(sys.argv[1])):
    if r['phase'] == '0': init.setdefault(r['domain'], set()).add(r['loss'])
assert init and all(len(v) == 1 for v in init.values()), init
PY
write_stream "$TMP/a2.toml" '"peer", "peer_freeze_add", "peer_fa_bn", "peer_fa_oracle", "peer_fa_query"'
expect_exit 0 "$PEER" run "$TMP/a2.toml" --out "$TMP/A"
grep -q '^\[run\] pretraining' "$LAST_ERR" && fail "the second run trained the pretrain model again"
expect_stderr_contains "method 'peer_fa_query'"
tensor_sums "$pre/checkpoint.safetensors" | diff -u "$TMP/pre.sums" - >&2 || fail "the second run changed the pretrain checkpoint"
expect_exit 0 "$PEER" run "$TMP/a2.toml" --out "$TMP/A" --plan
expect_stdout_contains "pretrain $pre: 40 steps, done"

note "peer_fa_bn keeps the BatchNorm statistics of the pretrain checkpoint"
tensor_sums "$TMP/A/methods/peer_fa_bn/checkpoint.safetensors" > "$TMP/bn.sums"
tensor_sums "$TMP/A/methods/peer_freeze_add/checkpoint.safetensors" > "$TMP/fa.sums"
[[ $(bn_stats "$TMP/pre.sums" | wc -l) == 4 ]] || fail "expected running mean and var in 2 layers: $(bn_stats "$TMP/pre.sums")"
diff -u <(bn_stats "$TMP/pre.sums") <(bn_stats "$TMP/bn.sums") >&2 || fail "peer_fa_bn's running statistics changed"
diff -q <(bn_stats "$TMP/pre.sums") <(bn_stats "$TMP/fa.sums") > /dev/null && fail "peer_freeze_add's statistics did not move (the check cannot fail)"
python3 - "$TMP/A/methods/peer_fa_bn/state.json" <<'PY' || fail "peer_fa_bn's state.json does not record its statistics as frozen"
import json, sys
names = {n for n, _ in json.load(open(sys.argv[1]))['frozen_crc']}
assert {f'blocks.{l}.ffn.query_bn.running_{s}' for l in (0, 1) for s in ('mean', 'var')} <= names, sorted(names)
PY

note "the oracle routes each domain to its own pool"
python3 - "$TMP/A/pool_usage.csv" "$TMP/A/loss_matrix.csv" <<'PY' || fail "oracle routing is wrong: $(grep '^peer_fa_oracle,3,' "$TMP/A/pool_usage.csv")"
import csv, sys
doms = ['news', 'lore', 'count']
share = {(r['domain'], int(r['pool'])): float(r['share']) for r in csv.DictReader(open(sys.argv[1]))
         if r['method'] == 'peer_fa_oracle' and r['phase'] == '3'}
for j, d in enumerate(doms):
    for p in range(4):  # pool 0: the pretrain's; domain j's is pool j + 1
        assert share[(d, p)] == (1.0 if p == j + 1 else 0.0), (d, p, share[(d, p)])
# the learned router of peer_freeze_add spreads over pools (so the check above can fail)
learned = [float(r['share']) for r in csv.DictReader(open(sys.argv[1]))
           if r['method'] == 'peer_freeze_add' and r['phase'] == '3' and r['domain'] == 'news']
assert max(learned) < 1.0, learned
loss = {(int(r['phase']), r['domain']): r['loss'] for r in csv.DictReader(open(sys.argv[2])) if r['method'] == 'peer_fa_oracle'}
for j, d in enumerate(doms[:-1]):
    assert loss[(j + 1, d)] == loss[(3, d)], ('oracle forgot', d, loss[(j + 1, d)], loss[(3, d)])
PY
grep -q '| pool 2 (news) |' "$TMP/A/report.md" || fail "report.md does not label the pools by domain"

note "replay, seeds, one schedule"
write_stream "$TMP/s.toml" '"peer", "peer_replay"' $'seeds = [1, 2]\nrewarm = false'
expect_exit 0 "$PEER" run "$TMP/s.toml" --out "$TMP/S"
for m in peer-s1 peer-s2 peer_replay-s1 peer_replay-s2; do
  [[ $(json_get "$TMP/S/methods/$m/state.json" finished) == True ]] || fail "method folder $m did not finish"
done
[[ $(grep -c '^peer_replay,' "$TMP/S/results.csv") == 2 ]] || fail "results.csv should hold a row per seed: $(cat "$TMP/S/results.csv")"
grep -qE '^\| peer_replay \| [0-9.]+ ± [0-9.]+ \| [0-9.]+ \| [0-9.]+ \|$' "$TMP/S/report.md" || fail "report.md has no mean ± std row of peer_replay"
cmp -s <(grep -v tokens_per_s "$TMP/S/methods/peer-s1/metrics.jsonl") <(grep -v tokens_per_s "$TMP/S/methods/peer-s2/metrics.jsonl") \
  && fail "two seeds trained the same"
python3 - "$TMP/S/methods/peer-s1/metrics.jsonl" <<'PY' || fail "rewarm = false should give one decaying schedule"
import json, sys
lr = [r['lr'] for r in map(json.loads, open(sys.argv[1])) if r['split'] == 'train']
assert len(lr) == 24, len(lr)  # 3 phases x 40 steps, a row every 5
assert all(b <= a for a, b in zip(lr[1:], lr[2:])), lr  # after the warmup, never re-warmed
PY

note "Ctrl-C while pretraining, then the same command"
write_stream "$TMP/b.toml" '"peer", "peer_freeze_add", "peer_fa_bn", "peer_fa_oracle"' $'[method.peer]\n"train.log_every" = 5'
sed -i 's/^tokens = 5120$/tokens = 20480/' "$TMP/b.toml"
"$PEER" run "$TMP/b.toml" --out "$TMP/B" > "$TMP/b.out" 2> "$TMP/b.err" &
pid=$!
for _ in $(seq 1 3000); do
  compgen -G "$TMP/B/shared/pretrain-*/metrics.jsonl" > /dev/null && break
  sleep 0.01
done
kill -INT "$pid"
set +e; wait "$pid"; rc=$?; set -e
[[ $rc == 130 ]] || fail "Ctrl-C during pretraining exited $rc: $(tail -3 "$TMP/b.err")"
grep -q 'interrupted: pretraining' "$TMP/b.err" || fail "the interrupt did not land in pretraining: $(tail -3 "$TMP/b.err")"
expect_exit 0 "$PEER" run "$TMP/b.toml" --out "$TMP/B"
expect_exit 0 "$PEER" run "$TMP/b.toml" --out "$TMP/B2"
diff -u "$TMP/B2/loss_matrix.csv" "$TMP/B/loss_matrix.csv" >&2 || fail "the loss matrix after Ctrl-C and resume differs from a straight run"

note "ok (${SECONDS}s)"
