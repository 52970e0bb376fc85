#!/bin/sh
# bench/gpu-run.sh — one call on the GPU machine: the CUDA op tests, the official anchors
# built and timed, then our scan bench with the anchor figures of this same run.
#
#   sh bench/gpu-run.sh [GPUDIR]       (run from the repository root on the GPU machine)
# GPUDIR (default .gpu, git-ignored, carried with the call) holds test_cuda_ops, bench_scan
# and lib/ (libmambakit.so.0 and what bundle-libs copied), built here for sm_90 — the GPU
# machine has no libtool, libyaml or jansson. .anchors/ holds the anchor scripts in anchors/
# and the official sources (anchors/fetch_sources.sh). Logs go to $OUT (or /tmp/out).
set -u
G=${1:-.gpu}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
export LD_LIBRARY_PATH="$PWD/$G/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv \
    > "$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"
echo "== test_cuda_ops"
"$G/test_cuda_ops" > "$OUT/test_cuda_ops.log" 2>&1
echo "rc=$? $(grep -c '^ok' "$OUT/test_cuda_ops.log") ok, $(grep -c '^not ok' "$OUT/test_cuda_ops.log") not ok"
grep -E '^not ok|^Bail|^#' "$OUT/test_cuda_ops.log" | head -40
if [ -d .anchors/anchors ]; then
    echo "== official anchors: build + bench_scan"
    (cd .anchors && bash anchors/build_official.sh) > "$OUT/anchor_build.log" 2>&1 ||
        { echo "anchor build failed"; tail -20 "$OUT/anchor_build.log"; }
    (cd .anchors && python3 anchors/bench_scan.py --dtypes fp32,bf16 \
        --shapes 8x1536x16x2048,1x1536x16x65536 --reps 30 --json scan.json) 2>&1 |
        tee "$OUT/anchor_scan.log" | tail -6
    python3 - "$OUT/scan.json" > "$OUT/anchor.txt" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(r["dtype"], r["B"], r["E"], r["N"], r["L"], r["fwd_ms"], r["bwd_ms"])
PY
fi
echo "== bench_scan"
"$G/bench_scan" --anchor "$OUT/anchor.txt" --reps 50 2>&1 | tee "$OUT/bench_scan.log"
