#!/bin/sh
# test_launch.sh — cli/mambakit-launch, the launcher of data-parallel ranks without MPI: each
# rank gets its rank, the world size, its local rank and one rendezvous path that does not
# exist yet; the first failing rank's status is the launcher's and the others are stopped;
# bad usage exits 2; a task other than training refuses to run as several ranks. (Its use
# with 2 GPUs is tests/test_dist_cuda.sh.)
. "${MK_SRCDIR:-.}/tests/tap.sh"
echo "1..6"
L="$SRC/cli/mambakit-launch"
# show: one line a rank: "rank/world local rendezvous-file-exists?"
cat > "$T/show.sh" <<'SH'
rv=${MAMBAKIT_RENDEZVOUS#file:}
[ -e "$rv" ] && e=exists || e=new
echo "$MAMBAKIT_RANK/$MAMBAKIT_WORLD_SIZE $MAMBAKIT_LOCAL_RANK $e ${MAMBAKIT_RENDEZVOUS%%:*}"
SH
check "3 ranks: ranks 0..2 of 3, local ranks 0..2, a new file: rendezvous" sh -c "
    TMPDIR='$T' '$L' -n 3 sh '$T/show.sh' | sort > '$T/ranks' &&
    printf '0/3 0 new file\n1/3 1 new file\n2/3 2 new file\n' | cmp - '$T/ranks'"
check "-np as mpirun; --rendezvous PATH and tcp:HOST:PORT are passed on" sh -c "
    '$L' -np 2 --rendezvous '$T/rv' sh -c 'echo \$MAMBAKIT_RENDEZVOUS' > '$T/rv.all' &&
    '$L' -n 2 --rendezvous tcp:node1:29500 sh -c 'echo \$MAMBAKIT_RENDEZVOUS' >> '$T/rv.all' &&
    sort -u '$T/rv.all' > '$T/rv.out' &&
    printf 'file:$T/rv\ntcp:node1:29500\n' | cmp - '$T/rv.out'"
# a rank that fails after 0.3 s while the others would sleep for 30 s
cat > "$T/fail.sh" <<'SH'
[ "$MAMBAKIT_RANK" = 1 ] && { sleep 0.3; exit 7; }
exec sleep 30
SH
check "a failing rank: its status, and the other ranks are stopped at once" sh -c "
    start=\$(date +%s)
    '$L' -n 3 sh '$T/fail.sh' 2> '$T/fail.err'
    st=\$? end=\$(date +%s)
    [ \$st = 7 ] && [ \$((end - start)) -lt 10 ] &&
        grep -q 'status 7; stopping the others' '$T/fail.err'"
check "every rank succeeds: status 0" "$L" -n 2 true
check "bad usage exits 2 with a message" sh -c "
    '$L' true 2> '$T/u1'; a=\$?; '$L' -n 0 true 2> '$T/u2'; b=\$?
    '$L' -n 2 2> '$T/u3'; c=\$?
    [ \$a = 2 ] && [ \$b = 2 ] && [ \$c = 2 ] && grep -q 'required' '$T/u1' &&
        grep -q 'no command' '$T/u3'"
# evaluating under 2 ranks would run the whole job twice into one run.out: refused
check "task.kind eval under mambakit-launch -n 2: each rank refuses, naming the launcher" sh -c "
    cd '$SRC' && '$MK' run recipes/text-lm.yaml --set model.d_model=8 --set model.n_layer=1 \
        --set data.seq_len=16 --set data.micro_batch=2 --set task.max_steps=1 \
        --set run.device=cpu --set run.out='$T/tiny' 2> /dev/null &&
    ! '$L' -n 2 '$MK' run recipes/text-lm.yaml --set task.kind=eval \
        --set 'model={from: $T/tiny/last}' --set run.out='$T/eval' 2> '$T/eval.err' &&
    [ \$(grep -c 'task.kind eval runs in one process, and this is one of 2' '$T/eval.err') -ge 1 ] &&
    [ ! -e '$T/eval/eval.json' ]"
[ "$failed" = 0 ]
