#!/bin/sh
# test_interrupt.sh — stopping a training run: a stop signal makes `mambakit run` finish the
# optimizer step, save a checkpoint and exit with 130; the same signal delivered twice at once
# (as `timeout -s INT` and job schedulers do: to the process, then to its process group) is
# one stop, not a kill; `--resume` continues from the saved step. A tiny text model on the CPU.
set -u
. "${MK_SRCDIR:-.}/tests/tap.sh"
echo "1..4"
cd "$SRC" || exit 1

# run_until_step SIGNAL... : trains in the background, sends the signals once a step is logged,
# prints the exit status
run_until_step() {
    rm -rf "$T/o" "$T/log" # (an old log's step lines would send the signal too early)
    "$MK" run recipes/text-lm.yaml --set run.out="$T/o" --set run.device=cpu \
        --set task.max_steps=1000000 --set task.eval.every=0 --set run.log.every=1 \
        --set run.log.progress=lines > "$T/log" 2>&1 &
    pid=$!
    i=0
    while ! grep -q '^step 2/' "$T/log" 2>/dev/null && [ $i -lt 600 ]; do
        sleep 0.1; i=$((i + 1))
    done
    for s in "$@"; do kill -s "$s" "$pid"; done
    wait "$pid"
    echo $?
}
saved() { # the checkpoint of the interrupted step is the newest
    step=$(sed -n 's/^interrupted at step \([0-9]*\): saving a checkpoint$/\1/p' "$T/log")
    [ -n "$step" ] && [ "$(readlink "$T/o/last")" = "ckpt-$step" ] && [ -f "$T/o/last/model.safetensors" ]
}
check "SIGINT sent twice at once: checkpoint saved, exit 130" \
    sh -c "[ \"\$1\" = 130 ]" - "$(run_until_step INT INT)"
check "  the interrupted step's checkpoint is the newest" saved
check "SIGTERM: checkpoint saved, exit 130" sh -c "[ \"\$1\" = 130 ]" - "$(run_until_step TERM)"
step=$(sed -n 's/^interrupted at step \([0-9]*\): .*/\1/p' "$T/log")
check "--resume continues from the saved step" sh -c "
    '$MK' run recipes/text-lm.yaml --set run.out='$T/o' --set run.device=cpu \
        --set task.max_steps=$((step + 3)) --set task.eval.every=0 --set run.log.every=1 \
        --set run.log.progress=lines --resume > '$T/resume' 2>&1 &&
    grep -q '^step $((step + 1))/' '$T/resume' && ! grep -q '^step 1/' '$T/resume'"
[ "$failed" = 0 ]
