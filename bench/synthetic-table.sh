#!/bin/sh
# synthetic-table.sh — the Mamba paper's synthetic tasks end to end (Sec. 4.1): trains a
# 2-layer, D = 64 Mamba on each task at TRAIN_LEN (recipes/selective-copying.yaml,
# recipes/induction-heads.yaml), evaluates it on fresh examples (a seed of their own) at every
# length of LENGTHS, and prints the markdown table of answer accuracy in % (the per-token
# accuracy of the paper's Table 1 and Table 11; eval.json beside it also has the exact match).
#
#   bench/synthetic-table.sh [selective-copying] [induction-heads]      (default: both)
#
# Environment (defaults in brackets):
#   MAMBAKIT        the program [cli/mambakit of a build in this tree, else mambakit on PATH]
#   OUT             output directory [runs/synthetic-table]; OUT/TASK/ holds the training run
#                   and eval-L/ per length, OUT/table.md the table
#   STEPS           training steps [3000]
#   TRAIN_SECONDS   stop training earlier after this many seconds, saving a checkpoint as
#                   Ctrl-C does [0: no limit]
#   TRAIN_LEN       training length [256]; TRAIN_EXAMPLES examples drawn from [32768]
#   LENGTHS         test lengths ["256 1024 4096 16384 65536"]
#   TEST_TOKENS     test tokens per length: examples = TEST_TOKENS / L within [MIN_EXAMPLES,
#                   256] [4194304]; MIN_EXAMPLES [16]
#   EVAL_TOKENS     tokens per eval micro-batch: micro_batch = EVAL_TOKENS / L within [1, 64]
#                   [65536]; one 2^20 example takes about 6.5 GB in the forward pass (measured
#                   on the CPU: 2 examples of 2^20 in 39 s at micro-batch 1)
#   DEVICE          run.device [auto]
#   SETS            more --set KEY=VALUE words for training, e.g. "task.optimizer.lr=1e-4"
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-runs/synthetic-table}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
if [ -z "${MAMBAKIT:-}" ]; then
    if [ -x "$here/cli/mambakit" ]; then MAMBAKIT=$here/cli/mambakit; else MAMBAKIT=mambakit; fi
fi
STEPS=${STEPS:-3000} TRAIN_SECONDS=${TRAIN_SECONDS:-0}
TRAIN_LEN=${TRAIN_LEN:-256} TRAIN_EXAMPLES=${TRAIN_EXAMPLES:-32768}
LENGTHS=${LENGTHS:-256 1024 4096 16384 65536}
TEST_TOKENS=${TEST_TOKENS:-4194304} MIN_EXAMPLES=${MIN_EXAMPLES:-16}
EVAL_TOKENS=${EVAL_TOKENS:-65536} DEVICE=${DEVICE:-auto} SETS=${SETS:-}
tasks=${*:-selective-copying induction-heads}
cd "$here"   # the recipes name their spec files relative to the tree

clamp() { # clamp VALUE LOW HIGH
    if [ "$1" -lt "$2" ]; then echo "$2"; elif [ "$1" -gt "$3" ]; then echo "$3"; else echo "$1"; fi
}
json_field() { # json_field FILE KEY: a number from a one-line JSON object
    sed -n "s/.*\"$2\": \([-0-9.eE+na]*\).*/\1/p" "$1"
}

header="| task | trained at L | steps | train time |" rule="|---|---|---|---|"
for L in $LENGTHS; do header="$header $L |" rule="$rule---|"; done
rows=""
for task in $tasks; do
    recipe=recipes/$task.yaml
    [ -f "$recipe" ] || { echo "synthetic-table.sh: no recipe $recipe" >&2; exit 2; }
    dir=$OUT/$task
    rm -rf "$dir" && mkdir -p "$dir"
    printf 'examples: %s\nseed: 1\n' "$TRAIN_EXAMPLES" > "$dir/train.synth"
    sets="run.out=$dir/train data.length=$TRAIN_LEN data.seq_len=$TRAIN_LEN
          data.train.paths=[$dir/train.synth] task.max_steps=$STEPS run.device=$DEVICE
          run.log.progress=lines $SETS"
    args=""
    for s in $sets; do args="$args --set $s"; done
    echo "== $task: training at L = $TRAIN_LEN, $STEPS steps, time limit $TRAIN_SECONDS s" >&2
    start=$(date +%s)
    limit="" rc=0
    [ "$TRAIN_SECONDS" -gt 0 ] && limit="timeout -s INT $TRAIN_SECONDS"
    # shellcheck disable=SC2086 # word splitting of $limit and $args is intended
    $limit "$MAMBAKIT" run "$recipe" $args > "$dir/train.log" 2>&1 || rc=$?
    if { [ "$rc" != 0 ] && [ "$rc" != 124 ]; } || [ ! -e "$dir/train/last" ]; then
        echo "synthetic-table.sh: training $task failed (exit $rc); see $dir/train.log" >&2
        tail -5 "$dir/train.log" >&2
        exit 1
    fi
    secs=$(($(date +%s) - start))
    steps=$(readlink "$dir/train/last" | sed 's/.*ckpt-//')
    row="| $task | $TRAIN_LEN | $steps | ${secs} s |"
    for L in $LENGTHS; do
        n=$(clamp $((TEST_TOKENS / L)) "$MIN_EXAMPLES" 256)
        mb=$(clamp $((EVAL_TOKENS / L)) 1 64) && mb=$(clamp "$mb" 1 "$n")
        printf 'examples: %s\nseed: 3\n' "$n" > "$dir/test-$L.synth"
        echo "== $task: testing at L = $L ($n examples, micro-batch $mb)" >&2
        "$MAMBAKIT" run "$recipe" --set task.kind=eval --set "model={from: $dir/train/last}" \
            --set run.out="$dir/eval-$L" --set data.length="$L" --set data.seq_len="$L" \
            --set data.micro_batch="$mb" --set "data.test.paths=[$dir/test-$L.synth]" \
            --set task.eval.batches=0 --set run.device="$DEVICE" > "$dir/eval-$L.log" 2>&1 || {
            echo "synthetic-table.sh: eval of $task at $L failed; see $dir/eval-$L.log" >&2
            tail -5 "$dir/eval-$L.log" >&2
            exit 1
        }
        acc=$(json_field "$dir/eval-$L/eval.json" accuracy)
        row="$row $(awk -v a="$acc" 'BEGIN { printf "%.1f", 100 * a }') |"
    done
    rows="$rows$row
"
done
{
    echo "$header"
    echo "$rule"
    printf '%s' "$rows"
} | tee "$OUT/table.md"
