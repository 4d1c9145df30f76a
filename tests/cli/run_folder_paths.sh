# A run folder is self-contained: a run configured with relative paths (data.files, --out) stores
# them absolute, so eval, sample and resume work from any directory; summary.json records the
# commit `peer --version` prints.
# usage: bash run_folder_paths.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"
WORK="$TMP/work"
make_corpus "$WORK"
write_config "$WORK/c.toml" 'train.steps = 20' 'data.files = [ "corpus.txt" ]' 'data.dir = "brown"'
mkdir -p "$TMP/elsewhere"

note "train with relative paths"
(cd "$WORK" && train_run run c.toml)
RUN="$WORK/run"
grep -qxF "files = [ '$WORK/corpus.txt' ]" "$RUN/config.toml" \
  || fail "config.toml does not hold data.files absolute: $(grep '^files' "$RUN/config.toml")"
grep -qxF "dir = '$WORK/brown'" "$RUN/config.toml" \
  || fail "config.toml does not hold data.dir absolute: $(grep '^dir' "$RUN/config.toml")"
python3 - "$RUN/checkpoint.safetensors" "$WORK" <<'PY' || fail "the checkpoint's config does not hold the paths absolute"
import json, struct, sys
f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]
config = json.loads(f.read(n))['__metadata__']['peer.config']
assert f"files = [ '{sys.argv[2]}/corpus.txt' ]" in config.splitlines(), config
PY
cp "$RUN/config.toml" "$TMP/config.before"

note "eval, sample and resume from another directory"
cd "$TMP/elsewhere"
expect_exit 0 "$PEER" eval "$RUN"
python3 -c 'import json, sys; r = json.load(open(sys.argv[1])); assert r["val_loss"] > 0' "$LAST_OUT" \
  || fail "eval from another directory: no val_loss"
expect_exit 0 "$PEER" sample "$RUN" --tokens 20 --seed 1
[[ $(wc -c < "$LAST_OUT") == 21 ]] || fail "sample from another directory printed $(wc -c < "$LAST_OUT") bytes"
expect_exit 0 "$PEER" train --resume "$RUN" --set train.steps=30
[[ "$(strip_timing "$RUN/metrics.jsonl" | tail -n 1 | python3 -c 'import json, sys; print(json.load(sys.stdin)["step"])')" == 30 ]] \
  || fail "resume from another directory did not reach step 30"
# The resumed run stored the same config (but for the new length): no path changed meaning.
diff <(grep -v '^steps' "$TMP/config.before") <(grep -v '^steps' "$RUN/config.toml") > /dev/null \
  || fail "resume changed config.toml: $(diff "$TMP/config.before" "$RUN/config.toml")"

note "summary.json records the binary's commit"
expect_exit 0 "$PEER" --version
[[ "$(cat "$LAST_OUT")" == "peer $(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["commit"])' "$RUN/summary.json")" ]] \
  || fail "peer --version printed '$(cat "$LAST_OUT")', summary.json has commit $(json_get "$RUN/summary.json" commit)"
note "ok"
