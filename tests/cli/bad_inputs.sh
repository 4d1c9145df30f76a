# Table-driven bad-input test of the `peer` CLI: every case in tests/cli/bad_inputs/*.table is one
# line
#     EXIT | PATTERN | COMMAND
# COMMAND runs under `bash -c` in a fresh empty directory (its working directory) and must exit
# EXIT with stderr matching the extended regular expression PATTERN (grep -E), which should name
# the key, flag or file at fault. Lines starting with '#' and blank lines are skipped.
# COMMAND may use:
#   $PEER     the peer binary            $CORPUS  a small text corpus (~200 KB)
#   $GOOD     a valid tiny config (the base config of lib.sh, 30 steps)
#   fresh_run DIR   copies a finished tiny run of $GOOD (checkpoint, metrics, config) to DIR
#   full_disk KB CMD...   runs CMD with a file size limit of KB KiB: a write past it fails (EFBIG),
#                   through the same checks as a full disk (ENOSPC), which needs no mount here
#   edit_checkpoint DIR --nan | --step N   rewrites DIR's checkpoint as an older binary or a
#                   damaged file could have left it, its checksums valid: a NaN in its first
#                   model tensor, or step N
#   eval_step DIR   the step of DIR's checkpoint as `peer eval` prints it; fails (exit 3) unless
#                   eval exits 0 with finite losses
# Every failing case is reported (file:line, exit code, stderr) before the test fails.
# usage: bash bad_inputs.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"
make_corpus "$TMP/data"
write_config "$TMP/good.toml"
train_run "$TMP/trained" "$TMP/good.toml"

fresh_run() { cp -r "$TMP/trained" "$1"; }
full_disk() { (trap '' XFSZ; ulimit -f "$1"; shift; "$@"); }
edit_checkpoint() {
  python3 - "$1/checkpoint.safetensors" "$2" "${3:-}" <<'PY'
import json, struct, sys, zlib
path, what, arg = sys.argv[1:4]
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
head, data = json.loads(raw[8:8 + n]), bytearray(raw[8 + n:])
meta = head["__metadata__"]
if what == "--nan":
    name = sorted(k for k in head if k.startswith("model."))[0]
    b, e = head[name]["data_offsets"]
    data[b:b + 4] = struct.pack("<f", float("nan"))
    sums = json.loads(meta["peer.checksums"])
    sums[name] = "%08x" % zlib.crc32(data[b:e])
    meta["peer.checksums"] = json.dumps(sums)
else:
    meta["peer.step"] = arg
text = json.dumps(head).encode()
text += b" " * (-len(text) % 8)
open(path, "wb").write(struct.pack("<Q", len(text)) + text + bytes(data))
PY
}
eval_step() {
  "$PEER" eval "$1" > "$1.eval" || return 3
  python3 -c 'import json, math, sys
r = json.load(open(sys.argv[1]))
sys.exit(0 if all(isinstance(r[k], float) and math.isfinite(r[k]) for k in ("train_loss", "val_loss")) else 3)' "$1.eval" \
    || return 3
  sed -n 's/.*"step":\([0-9-]*\).*/\1/p' "$1.eval"
}
export PEER CORPUS GOOD="$TMP/good.toml" TMP
export -f fresh_run full_disk edit_checkpoint eval_step

failures=0 cases=0
for table in "$(dirname "$0")"/bad_inputs/*.table; do
  lineno=0
  while IFS= read -r line || [[ -n "$line" ]]; do
    lineno=$((lineno + 1))
    [[ -z "${line// /}" || "$line" == \#* ]] && continue
    want="${line%% | *}"; rest="${line#* | }"
    pattern="${rest%% | *}"; cmd="${rest#* | }"
    where="$(basename "$table"):$lineno"
    dir="$TMP/case-$(basename "$table" .table)-$lineno"
    mkdir -p "$dir"
    cases=$((cases + 1))
    set +e
    (cd "$dir" && timeout 300 bash -c "$cmd") > "$dir.out" 2> "$dir.err" < /dev/null
    rc=$?
    set -e
    if [[ "$rc" != "$want" ]] || ! grep -qE -- "$pattern" "$dir.err"; then
      failures=$((failures + 1))
      echo "FAIL $where: exit $rc (want $want), stderr must match /$pattern/" >&2
      echo "  command: $cmd" >&2
      sed 's/^/  stderr: /' "$dir.err" | tail -n 5 >&2
    fi
  done < "$table"
done
LAST_ERR=""  # the failures are printed above
(( cases > 0 )) || fail "no cases found in $(dirname "$0")/bad_inputs/*.table"
(( failures == 0 )) || fail "$failures of $cases bad-input cases failed"
note "$cases cases ok"
