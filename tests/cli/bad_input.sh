# Bad input to the `peer` CLI (experiments/README.md): each case exits 2 with a one-line message that
# names the key or the file, and changes nothing on disk.
# usage: bash bad_input.sh PATH_TO_PEER_BINARY
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
cli_init "$@"
make_corpus "$TMP/data"

# bad_config NAME TEXT [EXTRA]...: `peer train` of the base config plus EXTRA exits 2 with one line
# containing TEXT, and creates no run folder.
bad_config() {
  local name="$1" text="$2"; shift 2
  write_config "$TMP/$name.toml" "$@"
  expect_exit 2 "$PEER" train "$TMP/$name.toml" --out "$TMP/out-$name"
  expect_one_line_error
  expect_stderr_contains "$text"
  [[ ! -e "$TMP/out-$name" ]] || fail "$name: a rejected config still created its run folder"
}

note "config errors"
bad_config unknown_key "'model.foo'" 'model.foo = 1'
expect_stderr_contains "unknown config key"
bad_config wrong_type "'model.n_embd'" 'model.n_embd = "big"'
expect_stderr_contains "integer"
bad_config not_divisible "'model.n_embd'" 'model.n_embd = 30' 'model.n_head = 4'
expect_stderr_contains "n_head"
bad_config block_zero "'model.block_size'" 'model.block_size = 0'
bad_config unknown_section "'optim.lr'" 'optim.lr = 0.1'
bad_config missing_data "$TMP/data/nope.txt" "data.files = [ \"$TMP/data/nope.txt\" ]"
bad_config toml_syntax "toml_syntax.toml" 'RAW:[broken'

note "CUDA requests: a part without a CUDA implementation is refused by name, never served on the CPU"
bad_config cuda_pkm "train.device" 'train.device = "cuda"' 'model.ffn = "pkm"'
expect_stderr_contains "the product-key memory layer has no CUDA implementation"
if [[ "$(nvidia-smi -L 2>/dev/null)" != *GPU* ]]; then  # dense, MoE, PEER and the retrieval bench run where a GPU is
  bad_config cuda_dense "train.device" 'train.device = "cuda"'
  expect_stderr_contains "no CUDA device"
  bad_config cuda_moe "train.device" 'train.device = "cuda"' 'model.ffn = "moe"'
  expect_stderr_contains "no CUDA device"
  bad_config cuda_peer "train.device" 'train.device = "cuda"' 'model.ffn = "peer"'
  expect_stderr_contains "no CUDA device"
  expect_usage_error "$PEER bench retrieval --device cuda" "--device cuda" "no CUDA device"
fi

note "--set errors"
write_config "$TMP/good.toml"
expect_usage_error "$PEER train $TMP/good.toml --out $TMP/out-set1 --set model.bogus=3" "'model.bogus'"
expect_usage_error "$PEER train $TMP/good.toml --out $TMP/out-set2 --set model.n_embd=big" "'model.n_embd'"
expect_usage_error "$PEER train $TMP/good.toml --out $TMP/out-set3 --set train.steps" "--set" "train.steps"
[[ ! -e "$TMP/out-set1" && ! -e "$TMP/out-set2" && ! -e "$TMP/out-set3" ]] \
  || fail "a rejected --set still created its run folder"

note "missing files"
expect_usage_error "$PEER train $TMP/missing.toml --out $TMP/out-missing" "$TMP/missing.toml"
expect_usage_error "$PEER eval $TMP/no-such-run" "$TMP/no-such-run"
expect_usage_error "$PEER sample $TMP/no-such-run" "$TMP/no-such-run"
expect_usage_error "$PEER train --resume $TMP/no-such-run" "$TMP/no-such-run"
mkdir -p "$TMP/empty-run"
cp "$TMP/good.toml" "$TMP/empty-run/config.toml"
expect_usage_error "$PEER train --resume $TMP/empty-run" "$TMP/empty-run" "checkpoint"

note "usage errors"
expect_exit 2 "$PEER"
expect_exit 2 "$PEER" frobnicate
expect_stderr_contains "unknown command 'frobnicate'"
for cmd in train eval sample data; do
  expect_exit 2 "$PEER" $cmd --bogus-option
  expect_one_line_error
  expect_stderr_contains "--bogus-option"
done
expect_exit 2 "$PEER" data frobnicate
expect_stderr_contains "frobnicate"
expect_usage_error "$PEER train $TMP/good.toml $TMP/good.toml" "CONFIG"
expect_usage_error "$PEER train --resume $TMP/x --out $TMP/y" "--resume"

note "a finished tiny run"
RUN="$TMP/run"
train_run "$RUN" "$TMP/good.toml"
checksums "$RUN" > "$TMP/run.sums"

note "sample option errors"
expect_usage_error "$PEER sample $RUN --temperature 0" "--temperature"
expect_usage_error "$PEER sample $RUN --tokens many" "--tokens"
expect_usage_error "$PEER sample $RUN --top-k -1" "--top-k"
expect_usage_error "$PEER eval $RUN --eval-batches 0" "--eval-batches"
expect_usage_error "$PEER eval $RUN --data $TMP/data/nope.txt" "$TMP/data/nope.txt"

note "train into a folder that already holds a run"
expect_usage_error "$PEER train $TMP/good.toml --out $RUN" "$RUN" "--resume"
checksums "$RUN" | diff -u "$TMP/run.sums" - >&2 || fail "train --out EXISTING_RUN changed the existing files"

note "resume with a different model shape"
expect_usage_error "$PEER train --resume $RUN --set model.n_embd=64 --set train.steps=60" "checkpoint.safetensors" "shape"
checksums "$RUN" | diff -u "$TMP/run.sums" - >&2 || fail "a rejected --resume (other shape) changed the run's files"

# with_checkpoint NAME: a copy of the finished run whose checkpoint the caller then damages.
with_checkpoint() {
  rm -rf "${TMP:?}/$1"
  cp -r "$RUN" "$TMP/$1"
  CKPT="$TMP/$1/checkpoint.safetensors"
}

# rejects_checkpoint DIR TEXT: eval, sample and train --resume of DIR exit 2 naming the checkpoint
# (and TEXT), and leave DIR as it was.
rejects_checkpoint() {
  local dir="$1" text="$2" before
  before="$(checksums "$dir")"
  expect_usage_error "$PEER eval $dir" "$dir/checkpoint.safetensors" "$text"
  expect_usage_error "$PEER sample $dir --tokens 5" "$dir/checkpoint.safetensors" "$text"
  expect_usage_error "$PEER train --resume $dir --set train.steps=60" "$dir/checkpoint.safetensors" "$text"
  [[ "$(checksums "$dir")" == "$before" ]] || fail "a rejected checkpoint in $dir: the run folder changed"
}

note "corrupted checkpoint (one byte flipped in the middle)"
with_checkpoint flipped
python3 - "$CKPT" <<'EOF'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[len(data) // 2] ^= 0x5A
open(path, "wb").write(data)
EOF
cmp -s "$CKPT" "$RUN/checkpoint.safetensors" && fail "the byte flip did not change the checkpoint"
rejects_checkpoint "$TMP/flipped" "checksum"

note "garbage, empty, truncated and unreadable checkpoints"
with_checkpoint garbage
printf 'this is not a safetensors file, just some text\n' > "$CKPT"
rejects_checkpoint "$TMP/garbage" "checkpoint"
with_checkpoint empty
: > "$CKPT"
rejects_checkpoint "$TMP/empty" "checkpoint"
with_checkpoint truncated
head -c "$(( $(wc -c < "$RUN/checkpoint.safetensors") / 2 ))" "$RUN/checkpoint.safetensors" > "$CKPT"
rejects_checkpoint "$TMP/truncated" "checkpoint"
with_checkpoint header_only
head -c 4096 "$RUN/checkpoint.safetensors" > "$CKPT"
rejects_checkpoint "$TMP/header_only" "checkpoint"
with_checkpoint bad_json
python3 - "$CKPT" <<'EOF'
import struct, sys
body = b'{"a": [1, 2'
open(sys.argv[1], "wb").write(struct.pack("<Q", len(body)) + body)
EOF
rejects_checkpoint "$TMP/bad_json" "checkpoint"
with_checkpoint a_folder
rm "$CKPT"; mkdir "$CKPT"
expect_usage_error "$PEER eval $TMP/a_folder" "$CKPT"
expect_usage_error "$PEER train --resume $TMP/a_folder" "$TMP/a_folder"
if [[ $EUID != 0 ]]; then
  with_checkpoint unreadable
  chmod 000 "$CKPT"
  expect_usage_error "$PEER eval $TMP/unreadable" "$CKPT"
  chmod 644 "$CKPT"
fi

note "text outside the model's vocabulary"
# The corpus has only [a-z ,.\n]; 'H' (0x48) is not in the vocabulary.
printf 'HELLO world\n' > "$TMP/upper.txt"
expect_usage_error "$PEER sample $RUN --prompt HELLO --tokens 5" "vocabulary"
expect_usage_error "$PEER eval $RUN --data $TMP/upper.txt" "vocabulary"
# The message should name the file it read, and the byte it could not encode (as 0x48 or 'H').
expect_stderr_contains "$TMP/upper.txt"
grep -qE "0x48|'H'" "$LAST_ERR" || fail "the out-of-vocabulary message names the wrong byte (expected 0x48 or 'H')"

note "ok"
