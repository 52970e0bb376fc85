#!/bin/sh
# test_dist.sh — data-parallel training over MPI on the CPU (lib/dist.h): a tiny byte-level
# model trained on 2 ranks against the same recipe on 1 rank at the same global batch (4
# sequences: 2 micro-batches of 2, one per rank). fp32 on the CPU, so only the order of the
# gradient sum differs: every logged loss and every parameter of the final checkpoints must
# agree to 1e-5 relative. Then a 2-rank checkpoint is resumed on 1 rank and a 1-rank one on
# 2 ranks, each ending where the uninterrupted run ends, and a global batch that does not
# divide over the ranks is refused. A tiny great-apes classifier (recipes/dna-apes.yaml on a
# fixture of 5 copies of the human mtDNA) checks the classification head's gradients the
# same way; bench/dist-scaling.sh runs on 1 and 2 CPU ranks. The gradient sum in buckets
# overlapped with the backward (lib/dist_buckets.h): tests/dist_sum_check checks the
# non-blocking sums against a + b computed on each rank; buckets of 0.01 MiB (3: one per
# layer, then the embedding) give the same bits as the one default bucket and 1 rank's
# losses and parameters, also with 2 micro-batches per rank (accumulation); the bf16
# all-reduce (run.dist.allreduce) stays within bf16 noise of 1 rank (losses 1e-4, parameters
# 5e-2 relative) but is not the fp32 run (parameters differ by more than 1e-4). ZeRO-1
# (run.dist.zero: each rank keeps the AdamW moments of half the block) ends bit for bit as the
# replicated 2-rank run, its checkpoints hold the whole moments (the same train state), and
# it resumes across world sizes both ways. Ranks that see different run.out directories (MPMD
# mpirun) refuse to resume from different steps. Skipped in a build without MPI.
# MK_DIST_DEVICE=cuda (tests/test_dist_cuda.sh): all of it on 2 GPUs, the sums by NCCL, the
# ranks started by mpirun when the build has MPI, else (or with MK_DIST_LAUNCH=env) by
# cli/mambakit-launch (NCCL's id through a rendezvous file; MK_DIST_LAUNCH=tcp: over TCP);
# skipped without NCCL or with fewer than 2 GPUs.
. "${MK_SRCDIR:-.}/tests/tap.sh"
DEV=${MK_DIST_DEVICE:-cpu}
have() { grep -q "^#define $1 1" "${MK_BUILDDIR:-.}/config.h"; }
if [ "${MK_DIST_LAUNCH:-}" = tcp ]; then # NCCL's id over TCP from rank 0
    MPI="$SRC/cli/mambakit-launch --rendezvous tcp:127.0.0.1:$((20000 + $$ % 20000)) -np 2"
elif [ "${MK_DIST_LAUNCH:-}" != env ] && have MK_HAVE_MPI && command -v mpirun >/dev/null; then
    MPI="mpirun --allow-run-as-root --oversubscribe -np 2"
else
    MPI="$SRC/cli/mambakit-launch -np 2" # CUDA ranks without MPI: NCCL's id through a file
fi
# ranks that wait for each other forever fail the test instead of hanging it
MPI="timeout -k 10 300 $MPI"
if [ "$DEV" = cpu ] && { ! have MK_HAVE_MPI || ! command -v mpirun >/dev/null; }; then
    echo "1..0 # SKIP no MPI"
    exit 0
fi
if [ "$DEV" = cuda ] && ! have MK_HAVE_NCCL; then
    echo "1..0 # SKIP no NCCL"
    exit 0
fi
if [ "$DEV" = cuda ] && [ "$(nvidia-smi -L 2>/dev/null | grep -c '^GPU')" -lt 2 ]; then
    echo "1..0 # SKIP fewer than 2 GPUs"
    exit 0
fi
case $MPI in *mpirun*) echo "1..18" ;; *) echo "1..17" ;; esac
echo "# $DEV ranks launched by $(echo "$MPI" | cut -d' ' -f5)"
export OMP_NUM_THREADS=1
CMP=${MK_BUILDDIR:-.}/tests/dist_compare
R="--set model.d_model=32 --set data.seq_len=32 --set data.micro_batch=2 --set data.global_batch=4
   --set task.max_steps=6 --set task.eval.every=3 --set task.eval.batches=2
   --set run.checkpoint.every=3 --set run.log.every=1 --set run.device=$DEV --set run.log.progress=lines"
# run OUT [LAUNCHER...]: trains the recipe into $T/OUT (with $EXTRA), stderr in $T/run.err
run() {
    out=$1; shift
    (cd "$SRC" && "$@" "$MK" run recipes/text-lm.yaml $R --set run.out="$T/$out" $EXTRA) \
        2> "$T/run.err" || { cat "$T/run.err" >&2; return 1; }
}
# the 2-rank run: rank 0 reports that the ranks ended with identical parameters
two_ranks() { run "$1" $MPI && grep -q "the 2 ranks hold identical parameters" "$T/run.err"; }
# the "loss" values of metrics.jsonl (train and val lines, in order), one a line
losses() { sed -n 's/.*"loss": \([^,}]*\).*/\1/p' "$1/metrics.jsonl"; }
# same_losses A B [TOL]: as many losses, each within TOL [1e-5] relative
same_losses() {
    losses "$T/$1" > "$T/la"; losses "$T/$2" > "$T/lb"
    [ -s "$T/la" ] && [ "$(wc -l < "$T/la")" = "$(wc -l < "$T/lb")" ] || {
        echo "the loss lines of $1 and $2 differ in number" >&2; return 1; }
    paste "$T/la" "$T/lb" | awk -v tol="${3:-1e-5}" '{ d = $1 - $2; if (d < 0) d = -d;
        s = $1 < 0 ? -$1 : $1;
        if (d > tol * s) { print "losses " $1 " and " $2 " differ" > "/dev/stderr"; bad = 1 } }
        END { exit bad }'
}
# same_end A B: the same losses and final (step 6) parameters to 1e-5 relative
same_end() { same_losses "$1" "$2" && "$CMP" 1e-5 "$T/$1/ckpt-6/model.safetensors" \
                 "$T/$2/ckpt-6/model.safetensors" >&2; }
# resume_from A B [LAUNCHER...]: a copy B of run A cut back to its step-3 checkpoint, resumed
resume_from() {
    src=$1 dst=$2; shift 2
    cp -r "$T/$src" "$T/$dst" && rm -rf "$T/$dst/ckpt-6" && EXTRA=--resume run "$dst" "$@" &&
        grep -q "resuming from step 3" "$T/run.err"
}
# classify OUT [LAUNCHER...]: the tiny apes classifier, 4 steps of 2 x 2 windows, into $T/OUT
# (on 2 ranks its gradients are summed in 2 buckets: the layer, then the embedding)
classify() {
    out=$1; shift
    (cd "$T" && "$@" "$MK" run "$SRC/recipes/dna-apes.yaml" --set model.d_model=8 \
        --set model.n_layer=1 --set data.seq_len=64 --set data.micro_batch=2 \
        --set data.global_batch=4 --set task.max_steps=4 --set task.eval.every=2 \
        --set task.eval.batches=1 --set run.log.every=1 --set run.device=$DEV \
        --set run.log.progress=lines --set run.dist.bucket_mb=0.001 --set run.out="$T/$out") \
        2> "$T/run.err" ||
        { cat "$T/run.err" >&2; return 1; }
}
# same_classifier A B: losses, backbone and head at step 4 agree to 1e-5 relative
same_classifier() {
    same_losses "$1" "$2" && for f in model classifier; do
        "$CMP" 1e-5 "$T/$1/ckpt-4/$f.safetensors" "$T/$2/ckpt-4/$f.safetensors" >&2 || return 1
    done
}
mkdir -p "$T/datasets/apes"
for a in bonobo chimpanzee gorilla rCRS sumatran_orangutan; do
    gzip -dc "$SRC/tests/data/dna/MT-human.fa.gz" > "$T/datasets/apes/$a.fasta"
    printf '%s.fasta\t%s\n' $a $a >> "$T/datasets/apes/labels.tsv"
done
EXTRA=
check "1 rank trains 6 steps" run one
check "2 ranks train the same recipe and end with identical parameters" two_ranks two
check "2 ranks: every loss and the final parameters are those of 1 rank (1e-5 relative)" \
    same_end one two
echo "# 1 vs 2 ranks, step 6: $("$CMP" 1 "$T/one/ckpt-6/model.safetensors" "$T/two/ckpt-6/model.safetensors" 2>&1)"
check "1 rank resumes a 2-rank checkpoint and ends as the 1-rank run" \
    eval 'resume_from two two-then-one && same_end two-then-one one'
check "2 ranks resume a 1-rank checkpoint and end as the 1-rank run" \
    eval 'resume_from one one-then-two $MPI && same_end one-then-two one'
check "a global batch that does not divide over the ranks is refused" eval \
    '! EXTRA="--set data.global_batch=2" run odd $MPI && grep -q "not a multiple of data.micro_batch 2 x 2 ranks" "$T/run.err"'
check "the comparison passes a checkpoint against itself and fails steps 3 against 6" eval \
    '"$CMP" 0 "$T/one/ckpt-6/model.safetensors" "$T/one/ckpt-6/model.safetensors" >&2 &&
     ! "$CMP" 1e-5 "$T/one/ckpt-3/model.safetensors" "$T/one/ckpt-6/model.safetensors" >&2'
check "a classifier trains on 1 rank and on 2" eval 'classify c-one && classify c-two $MPI &&
    grep -q "in 2 buckets" "$T/run.err"'
check "2 ranks: the classifier's losses, backbone and head are those of 1 rank" \
    same_classifier c-one c-two
check "bench/dist-scaling.sh: a row for 1 and for 2 $DEV ranks, the same losses" sh -c "
    cd '$SRC' && MAMBAKIT='$MK' DEVICE=$DEV STEPS=4 MICRO=2 OUT='$T/scaling' MPIRUN='${MPI% -np 2}' \
        SETS='model.d_model=16 data.seq_len=16' sh bench/dist-scaling.sh > '$T/scaling.md' &&
    grep -q '^| 1 | $DEV | 4 | 4 | [0-9]* | [0-9]* | 1.00 | 0.0e+00 |' '$T/scaling.md' &&
    grep -Eq '^\\| 2 \\| $DEV \\| 4 \\| 4 \\| [0-9]+ \\| [0-9]+ \\| [0-9.]+ \\| [0-9.]+e[-+][0-9]+ \\|' '$T/scaling.md' &&
    awk -F'|' '\$2 == \" 2 \" && \$9 + 0 > 1e-5 { exit 1 }' '$T/scaling.md'"
check "non-blocking sums over 2 ranks: a + b bit for bit, in fp32 and bf16 (dist_sum_check)" sh -c "
    $MPI '${MK_BUILDDIR:-.}/tests/dist_sum_check' $DEV > '$T/sums.tap' 2>&1; st=\$?; cat '$T/sums.tap' >&2
    [ \$st = 0 ] && [ \$(grep -c '^ok' '$T/sums.tap') = 4 ]"
BUCKETS="--set run.dist.bucket_mb=0.01"
check "2 ranks, buckets of 0.01 MiB: 3 buckets, the same parameters (bit for bit) as 1 bucket" \
    eval 'EXTRA=$BUCKETS two_ranks two-buckets &&
          grep -q "summed in fp32 in 3 buckets (run.dist.bucket_mb 0.01)" "$T/run.err" &&
          "$CMP" 0 "$T/two/ckpt-6/model.safetensors" "$T/two-buckets/ckpt-6/model.safetensors" >&2 &&
          same_end one two-buckets'
check "accumulation, 2 micro-batches per rank, 0.01 MiB buckets: 2 ranks end as 1 rank" \
    eval 'EXTRA="--set data.global_batch=8" run one-accum &&
          EXTRA="--set data.global_batch=8 $BUCKETS" two_ranks two-accum &&
          grep -q "2 micro-batches each per step" "$T/run.err" && same_end one-accum two-accum'
check "run.dist.allreduce=bf16: within bf16 noise of 1 rank, and not the fp32 sums" \
    eval 'EXTRA="--set run.dist.allreduce=bf16 $BUCKETS" two_ranks two-bf16 &&
          grep -q "summed in bf16 in 3 buckets" "$T/run.err" &&
          same_losses one two-bf16 1e-4 &&
          "$CMP" 5e-2 "$T/one/ckpt-6/model.safetensors" "$T/two-bf16/ckpt-6/model.safetensors" >&2 &&
          ! "$CMP" 1e-4 "$T/two/ckpt-6/model.safetensors" "$T/two-bf16/ckpt-6/model.safetensors" >&2'
ZERO="--set run.dist.zero=true"
check "run.dist.zero: 2 ranks with sharded moments end bit for bit as the replicated 2 ranks" \
    eval 'EXTRA=$ZERO two_ranks two-zero &&
          grep -q "AdamW moments sharded over the 2 ranks (run.dist.zero)" "$T/run.err" &&
          "$CMP" 0 "$T/two/ckpt-6/model.safetensors" "$T/two-zero/ckpt-6/model.safetensors" >&2 &&
          "$CMP" 0 "$T/two/ckpt-6/train_state.safetensors" \
              "$T/two-zero/ckpt-6/train_state.safetensors" >&2 && same_end one two-zero'
check "run.dist.zero: 1 rank resumes a sharded 2-rank checkpoint and ends as the 1-rank run" \
    eval 'resume_from two-zero zero-then-one && same_end zero-then-one one'
check "run.dist.zero: 2 sharded ranks resume a 1-rank checkpoint and end as the 1-rank run" \
    eval 'cp -r "$T/one" "$T/one-then-zero" && rm -rf "$T/one-then-zero/ckpt-6" &&
          EXTRA="--resume $ZERO" run one-then-zero $MPI &&
          grep -q "resuming from step 3" "$T/run.err" && same_end one-then-zero one'
# MPMD (mpirun only): rank 0 sees a run.out with a step-3 checkpoint, rank 1 an empty one,
# as ranks on hosts without a shared file system would; resuming must fail at once on both
# instead of training from different steps (collectives that no longer match)
case $MPI in *mpirun*)
check "ranks that see different run.out: resuming refuses to start, naming the cause" eval '
    mkdir -p "$T/seen" "$T/unseen" && cp -r "$T/one/ckpt-3" "$T/seen/" &&
    ln -s ckpt-3 "$T/seen/last" && cp "$T/one/recipe.yaml" "$T/seen/" &&
    ! (cd "$SRC" && timeout -k 10 120 mpirun --allow-run-as-root --oversubscribe \
        -np 1 "$MK" run recipes/text-lm.yaml $R --set run.out="$T/seen" --resume : \
        -np 1 "$MK" run recipes/text-lm.yaml $R --set run.out="$T/unseen" --resume) \
        2> "$T/mpmd.err" && grep -q "1 of the 2 ranks would start from other parameters or \
another step than rank 0 (step 3)" "$T/mpmd.err"' ;;
esac
[ "$failed" = 0 ]
