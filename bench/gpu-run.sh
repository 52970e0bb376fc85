#!/bin/sh
# bench/gpu-run.sh — one call on the GPU machine: the CUDA op tests, the end-to-end tests on
# CUDA (golden models, step/chunked == forward), the model bench, the official anchors built and
# timed (scan, and the end-to-end Mamba-130M figures), then our scan bench with the anchor
# figures of this same run.
#
#   sh bench/gpu-run.sh [GPUDIR]       (run from the repository root on the GPU machine)
# GPUDIR (default .gpu, git-ignored, carried with the call) holds test_cuda_ops, test_golden,
# test_step, test_head_chunks, bench_model, bench_scan and lib/ (libmambakit.so.0 and what bundle-libs copied),
# built here for sm_90 — the GPU machine has no libtool, libyaml or jansson. .anchors/ holds the
# anchor scripts in anchors/ and the official sources (anchors/fetch_sources.sh); a
# .anchors/.anchors/prebuilt/ from an earlier call's export skips the 2.5-minute build.
# $G/anchor.txt (an earlier run's anchor figures) serves bench_scan when the anchors are skipped.
# STAGES (default "tests model anchors e2e scan ncu decode") picks the parts; decode runs
# bench_decode (greedy decoding at batch 1, 16, 64) against the e2e stage's generate figures. Logs go to $OUT (or
# /tmp/out) as logs.tgz; the anchors' built extensions are exported to prebuilt/ there (ANCHOR_EXPORT=0: not).
set -u
G=${1:-.gpu}
OUT0=${OUT:-/tmp/out}
export OUT=/tmp/gpu-run-log   # the logs, tarred into $OUT0/logs.tgz after each stage (<= 8 files return)
STAGES=${STAGES:-tests model anchors e2e scan ncu decode}
mkdir -p "$OUT" "$OUT0"
snap() { tar czf "$OUT0/logs.tgz" -C "$OUT" . ; }
for z in "$G"/lib/*.gz; do # big libraries travel gzipped (the call carries at most 64 MiB)
    [ -e "$z" ] && gunzip -kf "$z"
done
export LD_LIBRARY_PATH="$PWD/$G/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export PYTHONUNBUFFERED=1
has() { case " $STAGES " in *" $1 "*) return 0 ;; esac; return 1; }
tap() { # name, command...: run a TAP program, summarise
    n=$1; shift
    t0=$(date +%s)
    "$@" > "$OUT/$n.log" 2>&1
    rc=$?
    echo "== $n rc=$rc $(grep -c '^ok' "$OUT/$n.log") ok, $(grep -c '^not ok' "$OUT/$n.log") not ok ($(( $(date +%s) - t0 )) s)"
    grep -E '^not ok|^Bail' "$OUT/$n.log" | head -20
}
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.mem,temperature.gpu --format=csv \
    > "$OUT/gpu.txt" 2>&1
cat "$OUT/gpu.txt"
if has tests; then
    tap test_cuda_ops "$G/test_cuda_ops"
    grep -E '^# (max|bf16)' "$OUT/test_cuda_ops.log" | head -8
    MK_GOLDEN=tests/data/golden tap test_golden timeout 300 "$G/test_golden"
    MK_GOLDEN=tests/data/golden tap test_step timeout 200 "$G/test_step"
    [ -x "$G/test_head_chunks" ] && tap test_head_chunks timeout 200 "$G/test_head_chunks"
fi
snap
if has model; then
    for p in fp32 bf16; do
        echo "== bench_model --device cuda --precision $p"
        timeout 200 "$G/bench_model" --device cuda --precision $p 2>&1 | tee "$OUT/bench_model_$p.log"
    done
fi
snap
if [ -d .anchors/anchors ] && { has anchors || has e2e; }; then
    echo "== official anchors: build"
    exp=""
    [ "${ANCHOR_EXPORT:-1}" = 1 ] && [ ! -d .anchors/.anchors/prebuilt ] && exp="--export $OUT0/prebuilt"
    (cd .anchors && timeout 300 bash anchors/build_official.sh $exp) > "$OUT/anchor_build.log" 2>&1 ||
        { echo "anchor build failed"; tail -20 "$OUT/anchor_build.log"; }
    grep -E 'taken from|built in|PASS|FAIL' "$OUT/anchor_build.log" | head -8
fi
snap
if [ -d .anchors/anchors ] && has anchors; then
    echo "== official anchors: bench_scan"
    (cd .anchors && timeout 200 python3 anchors/bench_scan.py --dtypes fp32,bf16 \
        --shapes 8x1536x16x2048,1x1536x16x65536 --reps 30 --json scan.json) 2>&1 |
        tee "$OUT/anchor_scan.log" | tail -6
    python3 - "$OUT/scan.json" > "$OUT/anchor.txt" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(r["dtype"], r["B"], r["E"], r["N"], r["L"], r["fwd_ms"], r["bwd_ms"])
PY
fi
snap
if has scan; then
    echo "== bench_scan"
    a=""; [ -s "$OUT/anchor.txt" ] && a="--anchor $OUT/anchor.txt"
    [ -z "$a" ] && [ -s "$G/anchor.txt" ] && a="--anchor $G/anchor.txt" # an earlier run's
    "$G/bench_scan" $a --reps 50 2>&1 | tee "$OUT/bench_scan.log"
fi
snap
if has ncu && command -v ncu > /dev/null; then
    echo "== ncu: the scan kernels (bench_scan --reps 1)"
    timeout 150 ncu --kernel-name "regex:scan_(bwd16|bwd|out|summary)_kernel" --launch-count 8 \
        --section SpeedOfLight --section Occupancy --section LaunchStats \
        --section WarpStateStats --section ComputeWorkloadAnalysis --section InstructionStats \
        --section MemoryWorkloadAnalysis \
        "$G/bench_scan" --reps 1 > "$OUT/ncu.txt" 2>&1
    echo "ncu rc=$? ($(wc -l < "$OUT/ncu.txt") lines in ncu.txt)"
fi
snap
if [ -d .anchors/anchors ] && has e2e; then
    echo "== official anchors: bench_e2e (Mamba-130M)"
    (cd .anchors && timeout 240 python3 anchors/bench_e2e.py --train-steps 20 --gen-batches 1,16,64 \
        --gen-tokens 256 --prefill-reps 5 ${E2E_ARGS:-}) > "$OUT/anchor_e2e.log" 2>&1
    echo "rc=$?"; grep -vE '^\s*$' "$OUT/anchor_e2e.log" | tail -25
    python3 - "$OUT/e2e.json" > "$OUT/decode_anchor.txt" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1])).get("generate", []):
    print(r["batch"], r["ms_per_token"])
PY
fi
snap
if has decode; then
    echo "== bench_decode"
    a=""; [ -s "$OUT/decode_anchor.txt" ] && a="--anchor $OUT/decode_anchor.txt"
    for p in fp32 bf16; do
        timeout 120 "$G/bench_decode" --device cuda --precision $p $a 2>&1 | tee "$OUT/bench_decode_$p.log"
    done
fi
snap
