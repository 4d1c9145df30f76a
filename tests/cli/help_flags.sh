# Flag names match config keys: every command's --help is walked, and each flag that sets what a
# config key sets must appear there spelled as the key ('_' -> '-') and be accepted by the parser;
# the old spellings (--topk, --key-dim, --experts, --batches) must be refused, naming the new one.
# usage: bash help_flags.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"

# COMMAND | FLAG | CONFIG KEY it sets
pairs="bench retrieval|--num-experts|peer.num_experts
bench retrieval|--heads|peer.heads
bench retrieval|--top-k|peer.top_k
bench retrieval|--d-key|peer.d_key
bench retrieval|--n1|peer.n1
bench retrieval|--n2|peer.n2
bench retrieval|--threads|train.threads
bench retrieval|--seed|train.seed
eval|--eval-batches|train.eval_batches"

# accepted COMMAND FLAG: the parser knows FLAG (the whole command line is parsed before --help is
# acted on, so nothing runs; an unknown option is an error even next to --help).
accepted() {
  # shellcheck disable=SC2086
  "$PEER" $1 "$2=x" --help > /dev/null 2> "$TMP/err" < /dev/null || true
  ! grep -q "unknown option" "$TMP/err"
}

accepted "bench retrieval" --no-such-flag && fail "accepted: an unknown flag passed as known"
"$PEER" config keys > "$TMP/keys.txt"
while IFS='|' read -r cmd flag key; do
  grep -qw -- "$key" "$TMP/keys.txt" || fail "$key is not a config key (peer config keys)"
  want="--$(echo "${key#*.}" | tr _ -)"
  [[ "$flag" == "$want" ]] || fail "peer $cmd $flag sets $key: expected the flag $want"
  # shellcheck disable=SC2086
  expect_exit 0 "$PEER" $cmd --help
  grep -q -- "$flag\b" "$LAST_OUT" || fail "peer $cmd --help does not list $flag"
  accepted "$cmd" "$flag" || fail "peer $cmd does not accept $flag: $(cat "$TMP/err")"
done <<< "$pairs"

# Every flag any --help lists is one the parser accepts (the help text and the parser agree).
for cmd in train eval sample run "data prepare" "bench retrieval" "pool add" export "config keys"; do
  # shellcheck disable=SC2086
  expect_exit 0 "$PEER" $cmd --help
  # The command's own flags: those of the usage lines (up to the first blank line) and of the
  # lines that start with a flag (prose may name other commands' flags).
  for flag in $(awk '!/^$/ && !body; /^$/ {body = 1} body && /^ *--/' "$LAST_OUT" | grep -o -- '--[a-z][a-z0-9-]*' | sort -u); do
    accepted "$cmd" "$flag" || fail "peer $cmd --help lists $flag, which the parser refuses: $(cat "$TMP/err")"
  done
done

note "old spellings refused"
expect_usage_error "$PEER bench retrieval --topk 2" "--topk" "did you mean '--top-k'"
expect_usage_error "$PEER bench retrieval --key-dim 64" "--key-dim"
expect_usage_error "$PEER bench retrieval --experts 64" "--experts" "did you mean '--num-experts'"
expect_usage_error "$PEER eval $TMP --batches 2" "--batches"
note "ok"
