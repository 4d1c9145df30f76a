#!/usr/bin/env bash
# Back-to-back speed comparison with the PyTorch references in ../shared/ref (same machine, same
# threads, alternating so that drift in the machine's speed hits both): the makeMoE training step
# (dense and MoE), one PEER layer step, and product-key retrieval. Prints one line per pair.
# usage: scripts/compare_reference.sh [ROUNDS]   (needs build/ and python3-torch)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
ref=../shared/ref
export LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/openblas-openmp
py() { /usr/bin/python3 "$@" 2>/dev/null | tail -1; }
field() { python3 -c "import json,sys; d=json.loads(sys.stdin.read()); print(*[d[k] for k in sys.argv[1:]])" "$@"; }
bench() { build/bench/"$1" --benchmark_filter="$2" --benchmark_format=json 2>/dev/null |
  python3 -c "import json,sys; b=json.load(sys.stdin)['benchmarks'][0]; print(*[b[k] for k in sys.argv[1:]])" "${@:3}"; }
ratio() { python3 -c "print(round($1 / $2, 2))"; }
for r in $(seq "$rounds"); do
  for ffn in dense moe; do
    read -r ours ours_mb < <(bench peer_bench_train_step "TrainStep/$ffn/2" tokens_per_s peak_rss_MB)
    read -r theirs theirs_mb < <(py "$ref/makemoe_ref.py" --ffn "$ffn" --steps 30 --threads 2 | field tokens_per_s peak_rss_mb)
    echo "makeMoE $ffn step: peer $ours tok/s ($ours_mb MB), PyTorch $theirs tok/s ($theirs_mb MB), ratio $(ratio "$ours" "$theirs")"
  done
  read -r ours ours_gb < <(bench peer_bench_peer_layer "PeerStep/lazy/1024" median_step_ms peak_rss_GiB)
  read -r theirs theirs_mb < <(py "$ref/peer_ref.py" --experts 1048576 --dim 256 --heads 8 --topk 16 --tokens 1024 --steps 5 --threads 2 --sparse | field step_ms peak_rss_mb)
  echo "PEER layer step (N 2^20, d 256, 1024 tokens, sparse Adam): peer $ours ms ($ours_gb GiB), PyTorch $theirs ms ($theirs_mb MB), speed-up $(ratio "$theirs" "$ours")"
  ours=$(build/peer bench retrieval --queries 4096 --brute-rows 16 | tail -1 | field product_key_ms)
  theirs=$(py "$ref/peer_ref.py" --retrieval-only --experts 1048576 --tokens 4096 --heads 8 --topk 16 --d_key 128 --threads 2 --bf-rows 16 | field pk_topk_ms)
  echo "retrieval (32768 rows, N 2^20, top-16): peer $ours ms, PyTorch $theirs ms, speed-up $(ratio "$theirs" "$ours")"
done
