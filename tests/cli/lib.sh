# Shared helpers for the end-to-end tests of the `peer` command line (tests/cli/*.sh).
#
# A test script starts with
#     source "$(dirname "$0")/lib.sh"
#     cli_init "$@"          # PEER=<binary>, TMP=<temp dir removed on exit>, strict mode
# and then uses make_corpus, write_config, expect_exit, expect_stderr_contains, ...
# Every failed expectation prints one "FAIL: ..." line (plus context) and exits 1.
#
# CTest also registers this file as the test `cli.lib`: run directly (`bash lib.sh PEER`), it
# checks its own helpers (the corpus is deterministic, configs parse, expect_exit works).

set -euo pipefail

# fail MESSAGE...: prints "FAIL: MESSAGE" and the last command's stderr (if any), exits 1.
fail() {
  echo "FAIL: $*" >&2
  if [[ -n "${LAST_ERR:-}" && -s "${LAST_ERR:-/nonexistent}" ]]; then
    echo "---- stderr of: ${LAST_CMD:-?} (last 20 lines) ----" >&2
    tail -n 20 "$LAST_ERR" >&2
    echo "----" >&2
  fi
  exit 1
}

# note MESSAGE...: progress line on stdout (shown by ctest --output-on-failure / -V).
note() { echo "[$(basename "$0" .sh)] $*"; }

# cli_init PEER_BINARY: checks the binary, makes the temp dir $TMP (removed on exit).
cli_init() {
  if [[ $# -lt 1 ]]; then
    echo "usage: bash $0 PATH_TO_PEER_BINARY" >&2
    exit 2
  fi
  PEER="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
  [[ -x "$PEER" ]] || { echo "FAIL: peer binary '$1' is not an executable file" >&2; exit 1; }
  local base="${TMPDIR:-/tmp}"
  [[ "$base" != *[[:space:]]* ]] || base=/tmp  # expect_usage_error splits its command on spaces
  TMP="$(mktemp -d "$base/peer-cli-test.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$TMP'" EXIT
  LAST_OUT="$TMP/last.out"
  LAST_ERR="$TMP/last.err"
  LAST_CMD=""
  export LC_ALL=C
}

# markov_text SEED BYTES WORDS...: about BYTES of seeded, English-like Markov text over WORDS on
# stdout (lowercase words, space, ',', '.', newline). Deterministic: its own Park-Miller generator
# (exact in double arithmetic, so any awk agrees).
markov_text() {
  local seed="$1" target="$2"; shift 2
  awk -v seed="$seed" -v target="$target" -v words="$*" 'BEGIN {
    n = split(words, w, " ")
    x = seed                                      # Park-Miller state
    prev = 1; size = 0; count = 0; line = ""
    while (size < target) {
      x = (16807 * x) % 2147483647
      r = x % 16
      # Markov step: the next word depends on the previous one (a few likely successors) or,
      # now and then, on nothing.
      if (r < 12) cur = (prev * 7 + r % 6) % n + 1
      else        cur = (x % n) + 1
      tok = w[cur]
      count++
      if (count % 11 == 0)      tok = tok "."
      else if (count % 7 == 0)  tok = tok ","
      line = (line == "") ? tok : line " " tok
      if (length(line) > 70) { print line; size += length(line) + 1; line = "" }
      prev = cur
    }
    if (line != "") print line
  }'
}

# make_corpus DIR: writes DIR/corpus.txt (~200 KB of markov_text) and sets CORPUS to its path.
make_corpus() {
  local dir="$1"
  mkdir -p "$dir"
  CORPUS="$dir/corpus.txt"
  markov_text 20240601 200000 the a of and to in is was he it for on that with as his they at be this from \
    had by not word but what all were we when your can said there use an each which she \
    do how their if will up other about out many then them these so some her would make \
    like him into time has look two more write go see number no way could people my than \
    first water been call who oil its now find long down day did get come made may part > "$CORPUS"
}

# gen_domain PATH SEED WORDS...: ~30 KB of markov_text over WORDS, a lifelong test's domain. Every
# file starts with the same line holding every character any domain uses, so one domain alone has
# the vocabulary of all (runs over the first domains only then train the same model as the full
# stream does in those phases).
gen_domain() {
  local path="$1" seed="$2"; shift 2
  { echo "abcdefghijklmnopqrstuvwxyz ,."; markov_text "$seed" 30000 "$@"; } > "$path"
}

# The base test config: tiny shapes so a step takes milliseconds. One thread: with ops this small,
# two OpenMP threads gain nothing and slow down by 10-100x on a busy (oversubscribed) machine;
# determinism.sh sets train.threads = 2 itself.
# Keys as "section.key=value" (TOML values), in the order written.
CLI_BASE_CONFIG=(
  'model.n_embd=32' 'model.n_head=2' 'model.n_layer=2' 'model.block_size=16' 'model.dropout=0.0'
  'train.steps=30' 'train.batch_size=8' 'train.lr=3e-3' 'train.warmup_steps=5' 'train.eval_every=10'
  'train.eval_batches=4' 'train.log_every=5' 'train.sample_tokens=0' 'train.seed=7' 'train.threads=1'
  'data.source="files"' 'data.val_fraction=0.1'
)

# write_config PATH [EXTRA]...: writes a TOML config: the base config above with data.files =
# [ "$CORPUS" ], then each EXTRA ("section.key = value", TOML value) added or replacing the base
# key in its [section]. An EXTRA of the form "RAW:text" is appended verbatim at the end.
write_config() {
  local path="$1"; shift
  [[ -n "${CORPUS:-}" ]] || fail "write_config: call make_corpus first"
  local -a order=() raw=()
  local -A val=()
  local kv key
  for kv in "${CLI_BASE_CONFIG[@]}" "data.files=[ \"$CORPUS\" ]" "$@"; do
    if [[ "$kv" == RAW:* ]]; then raw+=("${kv#RAW:}"); continue; fi
    key="${kv%%=*}"; key="${key// /}"
    [[ "$key" == *.* ]] || fail "write_config: '$kv' is not section.key = value"
    [[ -v "val[$key]" ]] || order+=("$key")
    val[$key]="${kv#*=}"
  done
  local section prev="" k
  {
    for section in model train data $(printf '%s\n' "${order[@]}" | cut -d. -f1 | awk '!seen[$0]++'); do
      [[ "$section" == "$prev" ]] && continue
      case " $prev " in *" $section "*) continue ;; esac
      prev="$prev $section"
      local any=0
      for k in "${order[@]}"; do
        [[ "${k%%.*}" == "$section" ]] || continue
        [[ $any == 1 ]] || { echo "[$section]"; any=1; }
        echo "${k#*.} = ${val[$k]# }"
      done
      [[ $any == 0 ]] || echo
    done
    local r
    for r in "${raw[@]+"${raw[@]}"}"; do echo "$r"; done
  } > "$path"
}

# run_cmd CMD...: runs CMD with stdout to $LAST_OUT and stderr to $LAST_ERR; sets LAST_RC.
run_cmd() {
  LAST_CMD="$*"
  set +e
  "$@" > "$LAST_OUT" 2> "$LAST_ERR" < /dev/null
  LAST_RC=$?
  set -e
}

# expect_exit CODE CMD...: runs CMD (stdout/stderr captured as above) and fails unless it exits CODE.
expect_exit() {
  local want="$1"; shift
  run_cmd "$@"
  [[ "$LAST_RC" == "$want" ]] || fail "'$*' exited $LAST_RC, expected $want"
}

# expect_stderr_contains TEXT: the last command's stderr contains TEXT (fixed string).
expect_stderr_contains() {
  grep -qF -- "$1" "$LAST_ERR" || fail "stderr of '$LAST_CMD' does not contain '$1'"
}

# expect_stdout_contains TEXT: the last command's stdout contains TEXT (fixed string).
expect_stdout_contains() {
  grep -qF -- "$1" "$LAST_OUT" || fail "stdout of '$LAST_CMD' does not contain '$1' (stdout: $(head -c 300 "$LAST_OUT"))"
}

# expect_one_line_error: stderr is exactly one non-empty line (a clear one-line message).
expect_one_line_error() {
  local n
  n=$(grep -c . "$LAST_ERR" || true)
  [[ "$n" == 1 ]] || fail "stderr of '$LAST_CMD' has $n lines, expected one error line"
}

# expect_usage_error "CMD ARGS" TEXT...: CMD (one string, split on whitespace: no spaces in its
# paths) exits 2 with a one-line error containing every TEXT.
expect_usage_error() {
  local cmd="$1"; shift
  # shellcheck disable=SC2086
  expect_exit 2 $cmd
  expect_one_line_error
  local t
  for t in "$@"; do expect_stderr_contains "$t"; done
}

# train_run DIR CONFIG [ARGS]...: a training run that must succeed (exit 0).
train_run() {
  local dir="$1" cfg="$2"; shift 2
  expect_exit 0 "$PEER" train "$cfg" --out "$dir" "$@"
  [[ -f "$dir/checkpoint.safetensors" && -f "$dir/metrics.jsonl" && -f "$dir/summary.json" ]] \
    || fail "train run in $dir did not write checkpoint.safetensors, metrics.jsonl and summary.json"
}

# interrupt_run SIGNAL DIR CONFIG [ARGS]...: starts `peer train CONFIG --out DIR ARGS` in the
# background, waits until DIR holds its first checkpoint (written after the first evaluation),
# sends SIGNAL (INT, TERM, KILL) and waits for it. Sets LAST_RC and LAST_ERR (its stderr). The run
# must be long enough that it cannot finish between the checkpoint and the signal.
interrupt_run() {
  local sig="$1" dir="$2" cfg="$3"; shift 3
  LAST_CMD="peer train $cfg --out $dir $* (then SIG$sig)"
  "$PEER" train "$cfg" --out "$dir" "$@" > "$LAST_OUT" 2> "$LAST_ERR" < /dev/null &
  local pid=$! _
  for _ in $(seq 1 6000); do
    [[ -f "$dir/checkpoint.safetensors" ]] && break
    kill -0 "$pid" 2> /dev/null || break
    sleep 0.01
  done
  if [[ ! -f "$dir/checkpoint.safetensors" ]]; then
    kill -KILL "$pid" 2> /dev/null || true
    wait "$pid" 2> /dev/null || true
    fail "$LAST_CMD: no checkpoint within 60 s"
  fi
  kill -"$sig" "$pid" 2> /dev/null || true
  set +e
  wait "$pid" 2> /dev/null
  LAST_RC=$?
  set -e
}

# strip_timing FILE: metrics.jsonl rows with the timing fields (tokens_per_s, elapsed_s) removed,
# keys sorted.
strip_timing() {
  python3 -c '
import json, sys
for line in open(sys.argv[1]):
    row = json.loads(line)
    row.pop("tokens_per_s", None)
    row.pop("elapsed_s", None)
    print(json.dumps(row, sort_keys=True))' "$1"
}

# json_get FILE KEY: a top-level value of a JSON file, printed exactly as Python reprs it.
json_get() { python3 -c 'import json, sys; print(repr(json.load(open(sys.argv[1]))[sys.argv[2]]))' "$1" "$2"; }

# checksums DIR: sha256 of every file in DIR (sorted), one line each.
checksums() { (cd "$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum); }

# ---- self-test when run directly (CTest: cli.lib) ----
if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
  cli_init "$@"
  make_corpus "$TMP/a"; make_corpus "$TMP/b"
  cmp -s "$TMP/a/corpus.txt" "$TMP/b/corpus.txt" || fail "make_corpus is not deterministic"
  size=$(wc -c < "$TMP/a/corpus.txt")
  (( size >= 190000 && size <= 220000 )) || fail "corpus is $size bytes, expected ~200 KB"
  [[ -z "$(tr -d 'a-z ,.\n' < "$TMP/a/corpus.txt")" ]] || fail "corpus has bytes outside [a-z ,.\\n]"
  write_config "$TMP/c.toml" 'model.n_embd = 64' 'train.foo = 1' 'RAW:# end'
  grep -qx 'n_embd = 64' "$TMP/c.toml" || fail "write_config did not replace model.n_embd"
  [[ $(grep -c '^n_embd' "$TMP/c.toml") == 1 ]] || fail "write_config wrote n_embd twice"
  grep -qx 'foo = 1' "$TMP/c.toml" || fail "write_config did not add train.foo"
  [[ $(grep -c '^\[train\]' "$TMP/c.toml") == 1 ]] || fail "write_config opened [train] twice"
  python3 -c 'import sys, tomllib; tomllib.load(open(sys.argv[1], "rb"))' "$TMP/c.toml" 2>/dev/null \
    || python3 -c 'import sys; sys.exit(0 if sys.version_info < (3, 11) else 1)' \
    || fail "write_config wrote invalid TOML: $(cat "$TMP/c.toml")"
  expect_exit 3 bash -c 'echo oops >&2; exit 3'
  expect_stderr_contains oops
  expect_one_line_error
  expect_exit 0 "$PEER" --help
  expect_stdout_contains "usage:"
  note "ok"
fi

# tensor_sums FILE: "name crc" for every tensor of a safetensors file.
tensor_sums() {
  python3 - "$1" <<'PY'
import json, struct, sys, zlib
f = open(sys.argv[1], 'rb'); n = struct.unpack('<Q', f.read(8))[0]; h = json.loads(f.read(n)); base = 8 + n
for name, info in sorted(h.items()):
    if name == '__metadata__': continue
    b, e = info['data_offsets']; f.seek(base + b); print(name, zlib.crc32(f.read(e - b)))
PY
}
