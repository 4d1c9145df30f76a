# `peer export` and the numpy reader (experiments/python/peer_reader.py): tiny dense, MoE (noisy
# top-2 with eval-time capacity drops; switch with a shared expert on every 2nd block) and PEER
# (three pools after `peer pool add`) runs are exported; each file holds only the model's tensors,
# equal to the checkpoint's, with the metadata MODEL_FORMAT.md lists; the reader's loss on a text
# equals `peer eval --data` on it to 1e-4; read_metrics reads metrics.jsonl.
# Needs Python 3.11+ with numpy (Debian's python3-numpy, which scripts/setup.sh installs): without
# it the test says so and passes, except under CI (CI=true), where it fails.
# usage: bash export.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"
READER="$(cd "$(dirname "$0")/../../experiments/python" && pwd)/peer_reader.py"

# python3 may be another installation than the one Debian's numpy belongs to.
PY=""
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -c 'import numpy, tomllib' 2> /dev/null; then PY="$candidate"; break; fi
done
if [[ -z "$PY" ]]; then
  [[ "${CI:-}" != true ]] || fail "no python3 with numpy and tomllib (scripts/setup.sh installs python3-numpy)"
  note "skipped: no python3 with numpy and tomllib (apt-get install python3-numpy)"
  exit 0
fi

make_corpus "$TMP/data"
head -c 3000 "$CORPUS" > "$TMP/eval.txt"  # 187 windows of 16: 23 full batches of 8 and one of 3
write_config "$TMP/dense.toml"
write_config "$TMP/moe.toml" 'model.ffn = "moe"' 'moe.num_experts = 4' 'moe.d_expert = 32' \
  'moe.eval_capacity_factor = 1.0'
write_config "$TMP/switch.toml" 'model.ffn = "moe"' 'model.ffn_every = 2' 'model.activation = "gelu"' \
  'moe.router = "switch"' 'moe.top_k = 1' 'moe.num_experts = 4' 'moe.d_expert = 32' 'moe.num_shared = 1' \
  'moe.eval_capacity_factor = 0.5'
write_config "$TMP/peer.toml" 'model.ffn = "peer"' 'peer.num_experts = 256' 'peer.heads = 2' 'peer.top_k = 4' \
  'peer.d_key = 16'
for kind in dense moe switch peer; do train_run "$TMP/$kind" "$TMP/$kind.toml"; done
expect_exit 0 "$PEER" pool add "$TMP/peer" --size 8x8
expect_exit 0 "$PEER" pool add "$TMP/peer" --size 64 --keep-old-trainable
expect_exit 0 "$PEER" train --resume "$TMP/peer" --set train.steps=40

commit="$("$PEER" --version | cut -d' ' -f2)"
for kind in dense moe switch peer; do
  out="$TMP/$kind.safetensors"
  expect_exit 0 "$PEER" export "$TMP/$kind" --out "$out"
  expect_stdout_contains "to $out"
  # Only the model's tensors, bit-equal to the checkpoint's, and the documented metadata.
  run_cmd "$PY" - "$READER" "$out" "$TMP/$kind/checkpoint.safetensors" "$commit" <<'PY'
import json, sys
sys.path.insert(0, sys.argv[1].rsplit("/", 1)[0])
import numpy as np, peer_reader as r
tensors, meta = r.load_safetensors(sys.argv[2])
ckpt, ckpt_meta = r.load_safetensors(sys.argv[3])
model = {n[len("model."):]: t for n, t in ckpt.items() if n.startswith("model.")}
assert sorted(tensors) == sorted(model), f"tensors {sorted(set(tensors) ^ set(model))} differ from the checkpoint's"
for name, t in tensors.items():
    assert t.shape == model[name].shape and np.array_equal(t, model[name]), f"{name} differs"
want = {"format": "pt", "peer.format": "peer-export-1", "peer.commit": sys.argv[4]}
for key in ("peer.config", "peer.vocab", "peer.pools", "peer.step"):
    want[key] = ckpt_meta[key]
for key, value in want.items():
    assert meta.get(key) == value, f"metadata {key} = {meta.get(key)!r}, expected {value!r}"
m = r.load(sys.argv[2])
text = "the water, day.\n"
assert r.decode(m, r.encode(m, text)) == text, "encode/decode do not round-trip"
PY
  [[ "$LAST_RC" == 0 ]] || fail "$kind: the exported file does not hold what MODEL_FORMAT.md promises"

  expect_exit 0 "$PEER" eval "$TMP/$kind" --data "$TMP/eval.txt"
  peer_line="$(cat "$LAST_OUT")"
  expect_exit 0 "$PY" "$READER" "$out" --data "$TMP/eval.txt"
  numpy_line="$(cat "$LAST_OUT")"
  run_cmd "$PY" -c '
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
la, lb = a["loss"], b["loss"]
print(f"peer eval {la:.8f}, numpy {lb:.8f}, |diff| {abs(la - lb):.1e} over 2992 tokens")
sys.exit(0 if a["tokens"] == b["tokens"] == 2992 and abs(la - lb) <= 1e-4 else 1)' \
    "$peer_line" "$numpy_line"
  [[ "$LAST_RC" == 0 ]] || fail "$kind: numpy loss differs from peer eval: $(cat "$LAST_OUT") ($peer_line vs $numpy_line)"
  note "$kind: $(cat "$LAST_OUT")"
done

# The MoE runs drop assignments at eval capacity (so the reader's dropping rule was exercised),
# and read_metrics gives one flat row per metrics.jsonl line.
run_cmd "$PY" - "$READER" "$TMP" <<'PY'
import sys
sys.path.insert(0, sys.argv[1].rsplit("/", 1)[0])
import peer_reader as r
for kind, block in (("moe", 0), ("switch", 1)):
    path = f"{sys.argv[2]}/{kind}/metrics.jsonl"
    rows = r.read_metrics(path)
    assert len(rows) == sum(1 for _ in open(path)), f"{kind}: not one row per line"
    val = [row for row in rows if row["split"] == "val"][-1]
    assert val[f"blocks.{block}.ffn.dropped_frac"] > 0, f"{kind}: no assignment dropped at eval"
    assert isinstance(val[f"blocks.{block}.ffn.load.3"], float), f"{kind}: load not flattened"
PY
[[ "$LAST_RC" == 0 ]] || fail "read_metrics / MoE drop check failed"
note "ok"
