#!/bin/sh
# gpu-dist.sh — data-parallel training on a machine with 2 or more GPUs, in one go (issue 8):
# the 2-GPU tests (tests/test_dist_cuda.sh) launched by mpirun when there is one, by
# mambakit-launch with a rendezvous file and with TCP, then the README's scaling table
# (bench/dist-scaling.sh: 1 GPU against NP GPUs at one global batch) for the default gradient
# sum (fp32 buckets overlapped with the backward), one sum after the backward, bf16 sums,
# ZeRO-1 and an fp32 model, and a bf16-noise reference (1 GPU taking the same sequences as
# 4 micro-batches of MICRO/2 instead of 2 of MICRO). Run from the repository root:
#
#   MK_BUILDDIR=build sh bench/gpu-dist.sh > dist.md
#
# Environment: MK_BUILDDIR (a build with CUDA and NCCL: cli/mambakit, tests/dist_compare,
# tests/dist_sum_check, config.h), RECIPE [recipes/books-lm.yaml, needs datasets/books], SIZE
# overrides of the model and windows ["model.d_model=768 model.n_layer=24 data.seq_len=2048":
# the 130M model's shape], MICRO [8], STEPS [30], NP [2], OUT [runs/gpu-dist], TESTS [1; 0
# skips the tests], DEVICE [cuda; cpu runs the rows on CPU ranks, a check of this script].
# Logs go to OUT. Leftover ranks of a failed run are killed before the next.
# NCCL_NVLS_ENABLE=0 is set (NVLink multicast off) unless the environment sets it.
set -u
B=${MK_BUILDDIR:?set MK_BUILDDIR to a build tree with CUDA and NCCL}
MK=$B/cli/mambakit
RECIPE=${RECIPE:-recipes/books-lm.yaml} MICRO=${MICRO:-8} STEPS=${STEPS:-30} NP=${NP:-2}
DEVICE=${DEVICE:-cuda}
SIZE=${SIZE:-model.d_model=768 model.n_layer=24 data.seq_len=2048} OUT=${OUT:-runs/gpu-dist}
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}
mkdir -p "$OUT"
# kill what a failed or timed-out run left spinning on the GPUs (it would slow every later row)
clean() { pkill -9 -f "$MK run" 2>/dev/null; pkill -9 -f dist_sum_check 2>/dev/null; sleep 1; }
if [ "${TESTS:-1}" = 1 ]; then
    for launch in mpirun env tcp; do
        [ "$launch" = mpirun ] && ! command -v mpirun > /dev/null && continue
        MK_DIST_LAUNCH=$([ "$launch" = mpirun ] || echo "$launch") MK_BUILDDIR=$B MK_SRCDIR=. \
            timeout 600 sh tests/test_dist_cuda.sh > "$OUT/test-$launch.tap" 2>&1
        echo "tests/test_dist_cuda.sh ($launch): $(grep -c '^ok' "$OUT/test-$launch.tap") ok," \
            "$(grep -c '^not ok' "$OUT/test-$launch.tap") not ok" >&2
        clean
    done
fi
if command -v mpirun > /dev/null; then
    LAUNCHER="timeout -k 5 600 mpirun --allow-run-as-root -x NCCL_NVLS_ENABLE"
else
    LAUNCHER="timeout -k 5 600 cli/mambakit-launch"
fi
# row NAME SETS...: the scaling rows of one configuration, labelled NAME
row() {
    name=$1; shift
    MAMBAKIT=$MK RECIPE=$RECIPE NP="1 $NP" STEPS=$STEPS MICRO=$MICRO OUT="$OUT/$name" \
        DEVICE=$DEVICE MPIRUN=$LAUNCHER SETS="$SIZE $*" \
        sh bench/dist-scaling.sh 2> "$OUT/$name.err" | sed -n "s/^| \([0-9]\)/| $name | \1/p"
    clean
}
echo "| sum | ranks | device | global batch | steps | tokens/s (all ranks) | per rank |" \
    "efficiency | max loss diff vs 1 rank | GiB a GPU |"
echo "|---|---|---|---|---|---|---|---|---|---|"
row default run.precision=bf16
row one-sum run.precision=bf16 run.dist.bucket_mb=0
row bf16-sums run.precision=bf16 run.dist.allreduce=bf16
row zero-1 run.precision=bf16 run.dist.zero=true
row fp32-model run.precision=fp32
# the noise reference: the default's 1-GPU losses against 1 GPU with half the micro-batch
MAMBAKIT=$MK RECIPE=$RECIPE NP=1 STEPS=$STEPS MICRO=$((MICRO / 2)) OUT="$OUT/half-micro" \
    DEVICE=$DEVICE MPIRUN=$LAUNCHER \
    SETS="$SIZE run.precision=bf16 data.global_batch=$((MICRO * NP))" \
    sh bench/dist-scaling.sh > /dev/null 2> "$OUT/half-micro.err"
losses() { sed -n 's/.*"split": "train", "loss": \([^,}]*\).*/\1/p' "$1/metrics.jsonl"; }
if [ -s "$OUT/half-micro/np-1/metrics.jsonl" ] && [ -s "$OUT/default/np-1/metrics.jsonl" ]; then
    losses "$OUT/default/np-1" > "$OUT/a.losses"
    losses "$OUT/half-micro/np-1" > "$OUT/b.losses"
    paste "$OUT/a.losses" "$OUT/b.losses" | awk -v mb="$MICRO" '{ d = $1 - $2;
        if (d < 0) d = -d; if (d / $1 > m) m = d / $1 } END {
        printf "\nbf16 noise: 1 rank at micro-batch %s vs %s, max relative loss difference " \
            "%.1e\n", mb, mb / 2, m }'
fi
echo
for d in "$OUT"/*/np-*; do
    [ -d "$d" ] && printf '%s: %s\n' "$d" "$(grep -h 'val loss' "$d.log" | tail -1)"
done
