#!/bin/sh
# dist-scaling.sh — data-parallel scaling (issue 8): trains one recipe for STEPS steps on 1
# rank and on N ranks (mpirun) at the same global batch, and prints one Markdown row per rank
# count: the training rate of all ranks together (the last progress line's tokens/s, averaged
# from the first finished step on, so start-up is not counted), the rate per rank, the scaling
# efficiency = rate(N) / (N x rate(1)), the largest relative difference of the logged
# training losses from the 1-rank run's (fp32: summation order only; bf16: bf16 noise), and
# on GPUs the memory in use on rank 0's GPU after training (the training's peak).
#
#   MAMBAKIT=build/cli/mambakit bench/dist-scaling.sh        (from the source tree)
#
# Environment: MAMBAKIT (the program; a build with MPI, and NCCL for CUDA), RECIPE
# [recipes/text-lm.yaml], NP rank counts ["1 2"; the first must be 1], DEVICE [cuda], STEPS
# [50], MICRO micro-batch [8], SETS more "KEY=VALUE" overrides for every run (e.g. model
# size, run.precision=bf16; the gradient sum: run.dist.bucket_mb=0 for one sum after the
# backward, no overlap; run.dist.allreduce=bf16 on NCCL), MPIRUN [mpirun --allow-run-as-root
# --oversubscribe], OUT [runs/dist-scaling]. The global batch is MICRO x the largest N, so
# every N divides it.
# On the CPU (DEVICE=cpu) each rank gets OMP_NUM_THREADS=1: a correctness run, not a speed one.
set -eu
MAMBAKIT=${MAMBAKIT:?set MAMBAKIT to the mambakit program (a build with MPI)}
RECIPE=${RECIPE:-recipes/text-lm.yaml} NP=${NP:-1 2} DEVICE=${DEVICE:-cuda}
STEPS=${STEPS:-50} MICRO=${MICRO:-8} SETS=${SETS:-} OUT=${OUT:-runs/dist-scaling}
MPIRUN=${MPIRUN:-mpirun --allow-run-as-root --oversubscribe}
case $NP in 1|1\ *) ;; *) echo "dist-scaling.sh: NP must start with 1 (the reference)" >&2; exit 2 ;; esac
[ "$DEVICE" = cpu ] && export OMP_NUM_THREADS=1
max=1
for n in $NP; do [ "$n" -gt "$max" ] && max=$n; done
global=$((MICRO * max))
mkdir -p "$OUT"
# rate LOG: the last progress line's tokens/s as a number
rate() {
    sed -n 's/.*  \([0-9.]*\)\([kM]\{0,1\}\) tok\/s.*/\1 \2/p' "$1" | tail -1 |
        awk '{ print $1 * ($2 == "k" ? 1e3 : $2 == "M" ? 1e6 : 1) }'
}
# losses DIR: the training losses of metrics.jsonl, one a line
losses() { sed -n 's/.*"split": "train", "loss": \([^,}]*\).*/\1/p' "$1/metrics.jsonl"; }
printf '%s%s\n' "| ranks | device | global batch | steps | tokens/s (all ranks) | per rank | " \
    "efficiency | max loss diff vs 1 rank | GiB a GPU |"
echo "|---|---|---|---|---|---|---|---|---|"
for n in $NP; do
    dir=$OUT/np-$n
    rm -rf "$dir"
    set -- --set run.out="$dir" --set run.device="$DEVICE" --set data.micro_batch="$MICRO" \
        --set data.global_batch="$global" --set task.max_steps="$STEPS" --set task.epochs=0 \
        --set task.eval.every=0 --set run.log.every=1 --set run.log.progress=lines
    for s in $SETS; do set -- "$@" --set "$s"; done
    # shellcheck disable=SC2086 # MPIRUN is a command with its options
    if ! $MPIRUN -np "$n" "$MAMBAKIT" run "$RECIPE" "$@" > "$dir.log" 2>&1; then
        echo "dist-scaling.sh: $n rank(s) failed; see $dir.log" >&2
        tail -5 "$dir.log" >&2
        exit 1
    fi
    r=$(rate "$dir.log")
    mem=$(sed -n 's/.*GPU memory in use after training: \([0-9.]*\) GiB.*/\1/p' "$dir.log")
    [ "$n" = 1 ] && r1=$r
    losses "$dir" > "$dir.losses"
    diff=$(paste "$OUT/np-1.losses" "$dir.losses" | awk '{ d = $1 - $2; if (d < 0) d = -d;
        s = $1 < 0 ? -$1 : $1; if (s > 0 && d / s > m) m = d / s } END { printf "%.1e", m }')
    awk -v n="$n" -v dev="$DEVICE" -v g="$global" -v st="$STEPS" -v r="$r" -v r1="$r1" \
        -v d="$diff" -v mem="${mem:--}" 'BEGIN {
        printf "| %d | %s | %d | %d | %.0f | %.0f | %.2f | %s | %s |\n",
        n, dev, g, st, r, r / n, r / (n * r1), d, mem }'
done
