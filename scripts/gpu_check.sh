#!/usr/bin/env bash
# Everything that needs a GPU, in one call (a GPU machine is lent for minutes): build with CUDA,
# run every gpu-labelled test to the end, the op table's backend mode under compute-sanitizer
# (memcheck, racecheck), the GPU benchmarks and the PyTorch references (--device cuda) back to
# back. Logs and a summary table go to DIR; the summary is also printed. Exit 0 only when every
# step that ran passed.
#
# usage: scripts/gpu_check.sh DIR [REF]     REF: folder holding makemoe_ref.py and peer_ref.py
#                                           (default ../shared/ref; skipped when absent)
# A GPU machine that cannot install packages builds with the Debian packages that
# `scripts/gpu_check.sh --fetch-deps` downloads here into .deps/ (git-ignored: carry it along, e.g.
# the device tool's run with carry [".deps"] and command "scripts/gpu_check.sh $OUT/check").
set -uo pipefail
cd "$(dirname "$0")/.."

deps=(libeigen3-dev libabsl-dev libabsl20220623 libtomlplusplus-dev libtomlplusplus3 nlohmann-json3-dev libcli11-dev catch2
      libbenchmark-dev libbenchmark1debian pkgconf pkgconf-bin libpkgconf3 zlib1g-dev)
if [ "${1:-}" = "--fetch-deps" ]; then
  mkdir -p .deps && cd .deps && apt-get download "${deps[@]}" && ls -l
  exit
fi
[ $# -ge 1 ] || { echo "usage: scripts/gpu_check.sh DIR [REF] | --fetch-deps" >&2; exit 2; }
out=$(mkdir -p "$1" && cd "$1" && pwd)
ref=${2:-../shared/ref}
export out
summary=$out/summary.md
echo "| step | result | seconds | log |" > "$summary"
echo "| --- | --- | --- | --- |" >> "$summary"
failed=0

# step NAME LIMIT_S CMD...: runs CMD with a time limit, logs to DIR/NAME.log, records the result.
# Exit 77 counts as skipped; anything else non-zero as failed (and the script goes on).
step() {
  local name=$1 limit=$2
  shift 2
  local t0=$SECONDS
  timeout "$limit" bash -c '"$@"' bash "$@" > "$out/$name.log" 2>&1  # bash: steps may be functions below
  local rc=$? result=ok
  if [ $rc -eq 77 ]; then result=skipped
  elif [ $rc -eq 124 ]; then result="TIMEOUT after ${limit}s"; failed=1
  elif [ $rc -ne 0 ]; then result="FAILED (exit $rc)"; failed=1
  fi
  echo "| $name | $result | $((SECONDS - t0)) | $name.log |" >> "$summary"
  echo "[gpu_check] $name: $result"
}

# Packages carried as .deb files (no network on the GPU machine): unpacked into a prefix.
if ls .deps/*.deb > /dev/null 2>&1 && ! [ -f /usr/include/eigen3/Eigen/Core ]; then
  prefix=/tmp/peer-deps
  for f in .deps/*.deb; do dpkg -x "$f" "$prefix"; done
  export CMAKE_PREFIX_PATH=$prefix/usr CPATH=$prefix/usr/include:$prefix/usr/include/eigen3
  # The .pc files say prefix=/usr: the sysroot puts the unpacked tree in front of their paths.
  export PKG_CONFIG_LIBDIR=$prefix/usr/lib/x86_64-linux-gnu/pkgconfig:$prefix/usr/share/pkgconfig
  export PKG_CONFIG_SYSROOT_DIR=$prefix
  export LIBRARY_PATH=$prefix/usr/lib/x86_64-linux-gnu LD_LIBRARY_PATH=$prefix/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  export PATH=$prefix/usr/bin:$PATH
fi

nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu.txt" 2>&1
step configure 300 cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release -DPEER_CUDA=ON
step build 600 cmake --build build-gpu --parallel "$(nproc)"
export OMP_WAIT_POLICY=PASSIVE
# Every gpu test to the end: Catch2 reports each failing CHECK (op, shape, max error) and goes on.
step gpu_tests 300 build-gpu/tests/peer_gpu_tests --durations yes
step op_table_backend 300 build-gpu/tests/op_table backend
if command -v compute-sanitizer > /dev/null; then
  step memcheck 300 compute-sanitizer --tool memcheck --error-exitcode 1 build-gpu/tests/op_table backend
  step racecheck 300 compute-sanitizer --tool racecheck --error-exitcode 1 build-gpu/tests/op_table backend
else
  echo "| compute-sanitizer | not on PATH | 0 | - |" >> "$summary"
fi
step cpu_tests 600 ctest --test-dir build-gpu -LE gpu -j "$(nproc)" --timeout 600
if [ -f "$ref/makemoe_ref.py" ]; then
  step ref_makemoe_dense 120 python3 "$ref/makemoe_ref.py" --ffn dense --steps 30 --device cuda
  step ref_makemoe_moe 120 python3 "$ref/makemoe_ref.py" --ffn moe --steps 30 --device cuda
else
  echo "| PyTorch references | skipped: $ref not found | 0 | - |" >> "$summary"
fi
# Training on the GPU (dense FFN), on text the machine has without network: this repository's
# own sources. First the makeMoE shape of experiments/configs/dense.toml for 50 steps on both
# devices, compared step by step; then tokens/s of that shape and of a GPU-sized one
# (n_embd 512, 8 layers, context 256, batch 32), each beside PyTorch's on the same shape.
git ls-files '*.cpp' '*.h' '*.cu' '*.md' | xargs cat > "$out/text.txt"
train() {  # train NAME DEVICE STEPS [--set ...]: a run folder under DIR, metrics every step
  local name=$1 device=$2 steps=$3
  shift 3
  build-gpu/peer train experiments/configs/dense.toml --out "$out/$name" --set train.device="$device" \
    --set train.steps="$steps" --set train.log_every=1 --set train.eval_every="$steps" --set train.sample_tokens=0 \
    --set data.source=files --set data.files="['$out/text.txt']" "$@"
}
compare_curves() {  # [CPU_RUN GPU_RUN ATOL RTOL]: training losses step by step, within ATOL + RTOL |loss|
  python3 - "$out/${1:-dense_cpu}/metrics.jsonl" "$out/${2:-dense_gpu}/metrics.jsonl" "${3:-2e-3}" "${4:-1e-3}" <<'PY'
import json, sys
atol, rtol = map(float, sys.argv[3:5])
rows = [{r["step"]: r["loss"] for r in map(json.loads, open(f)) if r["split"] == "train"} for f in sys.argv[1:3]]
bad = [(s, a, rows[1].get(s)) for s, a in rows[0].items() if not abs(a - rows[1].get(s, 1e30)) <= atol + rtol * abs(a)]
print(f"{len(rows[0])} steps compared, {len(bad)} outside {atol} + {rtol}|loss|", *bad[:10], sep="\n")
sys.exit(1 if bad or not rows[0] else 0)
PY
}
export -f train compare_curves
step train_dense_cpu 300 train dense_cpu cpu 50
step train_dense_gpu 300 train dense_gpu cuda 50
step dense_cpu_vs_gpu 60 compare_curves dense_cpu dense_gpu
step bench_dense_gpu 300 train bench_dense cuda 300
step bench_large_gpu 300 train bench_large cuda 100 --set model.n_embd=512 --set model.block_size=256 \
  --set train.batch_size=32
if [ -f "$ref/makemoe_ref.py" ]; then
  step ref_large_dense 300 python3 "$ref/makemoe_ref.py" --ffn dense --n_embd 512 --block 256 --batch 32 --steps 30 \
    --device cuda
fi
# MoE on the GPU (issue 22): the layer's benchmark (tokens/s, minimum bytes moved, fraction of peak
# bandwidth at E = 8, 64, 256); the makeMoE model (experiments/configs/moe.toml's MoE keys on the
# shape above: noisy top-2 of 8 experts, dropless) for 50 steps on both devices, compared step by
# step (wider than dense: a router choice that rounding flips moves a token, see
# tests/gpu/test_gpu_moe_step.cpp); then its tokens/s at E = 8 and E = 64 beside PyTorch's makeMoE
# at E = 64.
makemoe=(--set model.ffn=moe --set moe.num_experts=8 --set moe.top_k=2 --set moe.d_expert=512 --set moe.router=noisy_topk
         --set moe.capacity_factor=0 --set moe.eval_capacity_factor=0 --set moe.load_balance_coef=0 --set moe.z_loss_coef=0)
step bench_moe_layer_gpu 120 build-gpu/bench/peer_bench_moe_layer --benchmark_filter=MoE_gpu
step train_moe_cpu 300 train moe_cpu cpu 50 "${makemoe[@]}"
step train_moe_gpu 300 train moe_gpu cuda 50 "${makemoe[@]}"
step moe_cpu_vs_gpu 60 compare_curves moe_cpu moe_gpu 5e-3 2e-3
step bench_moe_gpu 300 train bench_moe cuda 300 "${makemoe[@]}"
step bench_moe64_gpu 300 train bench_moe64 cuda 200 "${makemoe[@]}" --set moe.num_experts=64
if [ -f "$ref/makemoe_ref.py" ]; then
  step ref_makemoe_moe64 300 python3 "$ref/makemoe_ref.py" --ffn moe --experts 64 --steps 30 --device cuda
fi
# Product-key retrieval on the GPU at the issue's shapes (N = 2^20, 8 heads, top-16, d_key 128),
# checked against the GPU brute force on its first rows.
for q in 4096 32768; do  # tokens: x 8 heads = 32,768 and 262,144 query rows
  step "bench_retrieval_$q" 300 build-gpu/peer bench retrieval --device cuda --num-experts 1048576 --heads 8 --top-k 16 \
    --d-key 128 --queries "$q" --check
  [ -f "$ref/peer_ref.py" ] && step "ref_retrieval_$q" 300 python3 "$ref/peer_ref.py" --retrieval-only \
    --experts 1048576 --tokens "$q" --heads 8 --topk 16 --d_key 128 --device cuda
done
# The PEER model (issue 22 items 3, 4): the dense shape with model.ffn = "peer" (the defaults:
# 128 x 128 experts, 8 heads, top-16, d_key 128) for 50 steps on both devices, compared step by
# step; its tokens/s on the GPU; then the single PEER layer step at the issue's shape (N = 2^20,
# d = 256, h = 8, k = 16, 32,768 tokens): tokens/s, forward against its bandwidth floor, fraction
# of peak bandwidth.
step train_peer_cpu 600 train peer_cpu cpu 50 --set model.ffn=peer
step train_peer_gpu 300 train peer_gpu cuda 50 --set model.ffn=peer
step peer_cpu_vs_gpu 60 compare_curves peer_cpu peer_gpu 2e-3 1e-3
step bench_peer_gpu 300 train bench_peer cuda 300 --set model.ffn=peer
step bench_peer_layer_gpu 300 build-gpu/bench/peer_bench_peer_layer --benchmark_filter=PeerStep/cuda
for run in bench_dense bench_large bench_moe bench_moe64 bench_peer; do
  [ -f "$out/$run/summary.json" ] && python3 -c "import json,sys; s=json.load(open(sys.argv[1])); \
print(f'| {sys.argv[2]} tokens/s | {s[\"tokens_per_s\"]:.0f} (peak GPU memory {s.get(\"peak_device_mb\", 0):.0f} MB) | - | - |')" \
    "$out/$run/summary.json" "$run" >> "$summary"
done

cat "$out/gpu.txt" "$summary"
exit $failed
