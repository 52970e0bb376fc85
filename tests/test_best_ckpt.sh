#!/bin/sh
# test_best_ckpt.sh — run.checkpoint.best (lib/train_state.c): a tiny byte-level model with
# a learning rate high enough that its validation loss falls, then rises and jumps about, so
# the best step is neither the first nor the last. The reference is metrics.jsonl, which the
# trainer writes independently of the best checkpoint:
#   - best/best.json names the step of the lowest "val" loss in metrics.jsonl, and its value;
#   - `best` points at best-STEP and it is the only best-* directory left;
#   - that model, evaluated by task.kind eval on the same validation batches, scores the
#     logged loss (it is the model of that step, not of the last);
#   - a run stopped after the best step and resumed ends with the same best (the best value
#     is restored: the first evaluation after the resume, worse than the best, is not saved);
#   - without a validation split, and val_accuracy on a task with no accuracy, are refused
#     with messages naming the key.
. "${MK_SRCDIR:-.}/tests/tap.sh"
echo "1..6"
R="--set model.d_model=16 --set model.n_layer=1 --set data.seq_len=32 --set data.micro_batch=2
   --set data.global_batch=2 --set task.eval.every=1 --set task.eval.batches=2
   --set task.optimizer.lr=0.5 --set task.schedule.name=constant --set run.device=cpu
   --set run.log.progress=none --set run.checkpoint.every=4 --set run.checkpoint.best=val_loss"
# run OUT ARGS...: trains recipes/text-lm.yaml with $R into $T/OUT
run() {
    out=$1; shift
    # shellcheck disable=SC2086 # $R is a list of words
    (cd "$SRC" && "$MK" run recipes/text-lm.yaml $R --set run.out="$T/$out" "$@") \
        2> "$T/run.err" || { cat "$T/run.err" >&2; return 1; }
}
# "STEP LOSS" of the lowest val loss in OUT/metrics.jsonl (the first such step)
best_logged() {
    sed -n 's/.*"step": \([0-9]*\), "split": "val", "loss": \([^,}]*\).*/\1 \2/p' \
        "$T/$1/metrics.jsonl" | sort -g -k2 -s | head -1
}
# "STEP VALUE" of OUT/best/best.json
best_saved() { sed -n 's/.*"step": \([0-9]*\),.*"value": \([^}]*\)}.*/\1 \2/p' "$T/$1/best/best.json"; }
# close A B: two numbers agree to 1e-6 relative
close() { awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-6 * (b < 0 ? -b : b)) }'; }

same_as_logged() {
    # shellcheck disable=SC2046 # four words
    set -- $(best_logged "$1") $(best_saved "$1")
    [ $# = 4 ] && [ "$1" = "$3" ] && close "$4" "$2" && [ "$1" -gt 1 ] && [ "$1" -lt 12 ] ||
        { echo "logged best: $1 $2, best.json: $3 $4" >&2; return 1; }
}
full_run() { run full --set task.max_steps=12 && same_as_logged full; }
check "best.json names the step and loss of the lowest val loss in metrics.jsonl (not the first or last step)" \
    full_run
one_best() {
    s=$(best_saved full | cut -d' ' -f1)
    [ "$(readlink "$T/full/best")" = "best-$s" ] && [ "$(ls -d "$T/full"/best-* | wc -l)" = 1 ]
}
check "best -> best-STEP, the only best-* directory" one_best
eval_best() {
    (cd "$SRC" && "$MK" run recipes/text-lm.yaml $R --set task.kind=eval --set task.split=val \
        --set "model={from: $T/full/best}" --set run.out="$T/eval") 2> "$T/eval.err" ||
        { cat "$T/eval.err" >&2; return 1; }
    got=$(sed -n 's/.*"loss": \([^,}]*\).*/\1/p' "$T/eval/eval.json")
    want=$(best_saved full | cut -d' ' -f2)
    close "$got" "$want" || { echo "eval of best: $got, best.json: $want" >&2; return 1; }
}
check "the best model evaluates to its logged val loss" eval_best
resumed() {
    s=$(best_saved full | cut -d' ' -f1)
    run part --set task.max_steps=$((s + 3)) && run part --set task.max_steps=12 --resume &&
        [ "$(best_saved part)" = "$(best_saved full)" ]
}
check "stopped 3 steps after the best and resumed: the same best" resumed
check "no validation split: refused" status_is 1 "run.checkpoint.best: val_loss needs a validation split" \
    run noval --set task.max_steps=2 --set data.split.by=none
check "val_accuracy without an accuracy: refused" status_is 1 "run.checkpoint.best is val_accuracy" \
    run noacc --set task.max_steps=2 --set run.checkpoint.best=val_accuracy
[ "$failed" = 0 ]
