# Freeze-and-add from the command line (experiments/README.md): `peer pool add` on a trained PEER run,
# then `peer train --resume`. Checks: the frozen pool's tensors are bit-identical after more
# training, it has no optimizer state in the checkpoint, the new pool trains, eval/sample load
# every pool, and a pool size that is not n1 * n2 is refused with exit 2.
# usage: bash pools.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"
make_corpus "$TMP/data"
write_config "$TMP/peer.toml" 'model.ffn = "peer"' 'peer.num_experts = 256' 'peer.heads = 2' 'peer.top_k = 4' \
  'peer.d_key = 8' 'train.steps = 30' 'train.eval_every = 15'
train_run "$TMP/R" "$TMP/peer.toml"

note "add a pool, freezing the old one"
expect_exit 0 "$PEER" pool add "$TMP/R" --size 12x16
tensor_sums "$TMP/R/checkpoint.safetensors" > "$TMP/before"
grep -q '^model.blocks.0.ffn.pools.1.U ' "$TMP/before" || fail "no second pool in the checkpoint"
! grep -q '^optim.m.blocks.0.ffn.pools.0' "$TMP/before" || fail "the frozen pool kept optimizer state"
grep -q '^optim.m.blocks.0.ffn.pools.1.U ' "$TMP/before" || fail "the new pool has no optimizer state"

note "continue training"
expect_exit 0 "$PEER" train --resume "$TMP/R" --set train.steps=60
tensor_sums "$TMP/R/checkpoint.safetensors" > "$TMP/after"
for t in keys1 keys2 U V; do
  for l in 0 1; do
    name="model.blocks.$l.ffn.pools.0.$t"
    [[ "$(grep "^$name " "$TMP/before")" == "$(grep "^$name " "$TMP/after")" ]] || fail "frozen $name changed"
  done
done
[[ "$(grep '^model.blocks.0.ffn.pools.1.U ' "$TMP/before")" != "$(grep '^model.blocks.0.ffn.pools.1.U ' "$TMP/after")" ]] \
  || fail "the new pool did not train"
expect_exit 0 "$PEER" eval "$TMP/R"
expect_stdout_contains '"step":60'
expect_exit 0 "$PEER" sample "$TMP/R" --tokens 20

note "bad pool sizes"
expect_usage_error "$PEER pool add $TMP/R --size 1000" "--size"
expect_usage_error "$PEER pool add $TMP/R --size 0x5" "--size"
expect_usage_error "$PEER pool add $TMP/R" "--size"
echo "[pools] ok"
