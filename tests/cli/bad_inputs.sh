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
# Every failing case is reported (file:line, exit code, stderr) before the test fails.
# usage: bash bad_inputs.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"
make_corpus "$TMP/data"
write_config "$TMP/good.toml"
train_run "$TMP/trained" "$TMP/good.toml"

fresh_run() { cp -r "$TMP/trained" "$1"; }
export PEER CORPUS GOOD="$TMP/good.toml" TMP
export -f fresh_run

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
