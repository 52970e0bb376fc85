#!/bin/sh
# dna-classify-table.sh — the DNA classification table: recipes/bacteria-strains.yaml (4
# species, tested on the held-out strains DH1, O395, N315, G27) fine-tuned from a pre-trained
# backbone and from scratch at every window length of WINDOWS, and recipes/dna-apes.yaml (5
# great apes, tested on a held-out block of each mtDNA genome). Each run trains, then
# classifies every window of its test split; one Markdown row per run: recipe, init, window,
# steps, wall time (train + classify), test accuracy (classify.json) and test windows, device.
# The apes also get the row of their Markov baseline (bench/markov_classify: one order-k
# model per species counted on its training block, k = 1..8 chosen on the validation blocks;
# no training, seconds on the CPU), which tells what base composition alone gets there.
#
#   bench/dna-classify-table.sh                  (from anywhere; runs in the source tree)
#
# Needs datasets/bacteria and datasets/apes (data/fetch_debian.sh apes bacteria). Environment
# (defaults: PRESET=gpu, meant for one H200 in under 8 minutes: 75 s of pre-training, at most
# 35 s of training per bacteria run, 30 s for the apes, plus classifying 13.2 Mbp of test
# strains per bacteria run; PRESET=cpu, a tiny end-to-end check, about a minute on 2 cores):
#   MAMBAKIT         the program [cli/mambakit of a build in this tree, else mambakit on PATH]
#   OUT              output directory [runs/dna-classify-table]; OUT/RUN/{train,test}/ and
#                    logs, OUT/table.md the table
#   PRESET           gpu|cpu: the defaults of everything below
#   DEVICE           run.device [gpu: cuda, cpu: cpu]
#   MODEL            bacteria model "D_MODEL N_LAYER" (PRETRAINED's shape) [gpu: "256 8";
#                    cpu: "16 1"]; the scratch runs have this shape, so does a pre-training
#   WINDOWS          bacteria window lengths [gpu: "1024 4096 16384"; cpu: "128 512 2048"]
#   STEPS            training steps of each bacteria run [gpu: 300; cpu: 40]
#   TRAIN_SECONDS    stop a training run after this many seconds (a checkpoint is saved, as on
#                    Ctrl-C; steps shows how far it got) [gpu: 35; cpu: 0 = no limit]
#   STEP_TOKENS      tokens per optimizer step: global batch = STEP_TOKENS / window [gpu: 65536;
#                    cpu: 4096]; MICRO_TOKENS tokens per micro-batch, training and classify
#                    [gpu: 65536; cpu: 4096]
#   PRETRAINED       a dna-pretrain checkpoint directory [OUT/pretrain/train/last]; when it has no
#                    config.json, dna-pretrain.yaml first trains one with MODEL's shape for
#                    PRETRAIN_STEPS [gpu: 400; cpu: 40] steps (PRETRAIN_SECONDS [gpu: 75; cpu:
#                    0]) of PRETRAIN_LEN-token windows [gpu: 4096; cpu: 512], STEP_TOKENS each
#   APES_MODEL       "D_MODEL N_LAYER" [gpu: "128 6" = dna-apes.yaml; cpu: "16 1"]
#   APES_WINDOW      [gpu: 1024; cpu: 256], APES_STEPS [gpu: 300; cpu: 60], APES_SECONDS
#                    [gpu: 30; cpu: 0], APES_BATCH windows per step [gpu: 64; cpu: 16]
#   MARKOV           the Markov baseline program [bench/markov_classify beside MAMBAKIT's
#                    cli/ (check_PROGRAMS: `make bench/markov_classify` in the build tree)]
#   RUNS             which runs: "fine scratch apes markov" (any of them) [all four]
#   SETS             more --set KEY=VALUE words for every training run
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-runs/dna-classify-table}
mkdir -p "$OUT" && OUT=$(cd "$OUT" && pwd)
if [ -z "${MAMBAKIT:-}" ]; then
    if [ -x "$here/cli/mambakit" ]; then MAMBAKIT=$here/cli/mambakit; else MAMBAKIT=mambakit; fi
fi
case $MAMBAKIT in /*|mambakit) ;; *) MAMBAKIT=$(pwd)/$MAMBAKIT ;; esac
PRESET=${PRESET:-gpu}
case $PRESET in
gpu) d_dev=cuda d_model="256 8" d_windows="1024 4096 16384" d_steps=300 d_secs=35
     d_step_tok=65536 d_micro_tok=65536 d_pre_steps=400 d_pre_secs=75 d_pre_len=4096
     d_apes_model="128 6" d_apes_win=1024 d_apes_steps=300 d_apes_secs=30 d_apes_batch=64 ;;
cpu) d_dev=cpu d_model="16 1" d_windows="128 512 2048" d_steps=40 d_secs=0
     d_step_tok=4096 d_micro_tok=4096 d_pre_steps=40 d_pre_secs=0 d_pre_len=512
     d_apes_model="16 1" d_apes_win=256 d_apes_steps=60 d_apes_secs=0 d_apes_batch=16 ;;
*) echo "dna-classify-table.sh: PRESET is gpu or cpu, not '$PRESET'" >&2; exit 2 ;;
esac
DEVICE=${DEVICE:-$d_dev} MODEL=${MODEL:-$d_model} WINDOWS=${WINDOWS:-$d_windows}
STEPS=${STEPS:-$d_steps} TRAIN_SECONDS=${TRAIN_SECONDS:-$d_secs}
STEP_TOKENS=${STEP_TOKENS:-$d_step_tok} MICRO_TOKENS=${MICRO_TOKENS:-$d_micro_tok}
PRETRAINED=${PRETRAINED:-$OUT/pretrain/train/last}
PRETRAIN_STEPS=${PRETRAIN_STEPS:-$d_pre_steps} PRETRAIN_SECONDS=${PRETRAIN_SECONDS:-$d_pre_secs}
PRETRAIN_LEN=${PRETRAIN_LEN:-$d_pre_len}
APES_MODEL=${APES_MODEL:-$d_apes_model} APES_WINDOW=${APES_WINDOW:-$d_apes_win}
APES_STEPS=${APES_STEPS:-$d_apes_steps} APES_SECONDS=${APES_SECONDS:-$d_apes_secs}
RUNS=${RUNS:-fine scratch apes markov} SETS=${SETS:-}
MARKOV=${MARKOV:-$(dirname "$MAMBAKIT")/../bench/markov_classify}
case $MARKOV in /*) ;; *) MARKOV=$(pwd)/$MARKOV ;; esac
case $PRETRAINED in /*) ;; *) PRETRAINED=$(pwd)/$PRETRAINED ;; esac
cd "$here"   # the recipes name their data relative to the tree
for d in datasets/bacteria datasets/apes; do
    [ -d "$d" ] || { echo "dna-classify-table.sh: no $d (data/fetch_debian.sh apes bacteria)" >&2; exit 1; }
done

json_field() { # json_field FILE KEY: a number from a one-line JSON object
    sed -n "s/.*\"$2\": \([-0-9.eE+na]*\).*/\1/p" "$1"
}
shape() { # shape "D N": the model section of a new model
    # shellcheck disable=SC2086 # two words
    set -- $1
    echo "model={d_model: $1, n_layer: $2}"
}
batch_sets() { # batch_sets WINDOW STEP_TOKENS: seq_len, micro- and global batch (a multiple)
    global=$(($2 / $1)) micro=$((MICRO_TOKENS / $1))
    [ "$global" -ge 1 ] || global=1
    [ "$micro" -ge 1 ] || micro=1
    [ "$micro" -le "$global" ] || micro=$global
    global=$(((global + micro - 1) / micro * micro))
    echo "data.seq_len=$1 data.micro_batch=$micro data.global_batch=$global"
}
# train NAME SECONDS RECIPE SET...: one training run in OUT/NAME/train, stopped after SECONDS
# (0: never) with a checkpoint; prints its wall seconds
train() {
    name=$1 secs=$2 recipe=$3
    shift 3
    dir=$OUT/$name
    rm -rf "$dir" && mkdir -p "$dir"
    n=$# cmd="$MAMBAKIT run $recipe"
    # shellcheck disable=SC2086 # $SETS is a list of words
    for s in "$@" run.out="$dir/train" run.device="$DEVICE" run.log.progress=lines $SETS; do
        set -- "$@" --set "$s"
        cmd="$cmd --set '$s'"
    done
    shift "$n"
    echo "== $name: $cmd" >&2
    echo "$cmd" > "$dir/train.cmd"
    limit="" rc=0 start=$(date +%s)
    [ "$secs" -gt 0 ] && limit="timeout -s INT $secs"
    # shellcheck disable=SC2086 # word splitting of $limit is intended
    $limit "$MAMBAKIT" run "$recipe" "$@" > "$dir/train.log" 2>&1 || rc=$?
    if { [ "$rc" != 0 ] && [ "$rc" != 124 ]; } || [ ! -e "$dir/train/last" ]; then
        echo "dna-classify-table.sh: training $name failed (exit $rc); see $dir/train.log" >&2
        tail -5 "$dir/train.log" >&2
        exit 1
    fi
    echo $(($(date +%s) - start))
}
# classify NAME RECIPE WINDOW: classifies the test split with OUT/NAME/train/last; prints seconds
classify() {
    dir=$OUT/$1 start=$(date +%s)
    micro=$((MICRO_TOKENS / $3))
    [ "$micro" -ge 1 ] || micro=1
    echo "== $1: classifying the test split" >&2
    if ! "$MAMBAKIT" run "$2" --set task.kind=classify --set "model={from: $dir/train/last}" \
            --set data.seq_len="$3" --set data.micro_batch=$micro --set run.out="$dir/test" \
            --set run.device="$DEVICE" --set run.log.progress=none > "$dir/test.log" 2>&1; then
        echo "dna-classify-table.sh: classifying $1 failed; see $dir/test.log" >&2
        tail -5 "$dir/test.log" >&2
        exit 1
    fi
    echo $(($(date +%s) - start))
}
device_name() { # from the program's "mambakit: using ..." line of a log
    sed -n 's/^mambakit: using //p' "$1" | head -1
}
# row NAME RECIPE INIT WINDOW TRAIN_S TEST_S: the Markdown row of a finished run
row() {
    dir=$OUT/$1 json=$OUT/$1/test/classify.json
    steps=$(readlink "$dir/train/last" | sed 's/.*ckpt-//')
    acc=$(json_field "$json" accuracy) n=$(json_field "$json" n)
    pct=$(awk -v a="$acc" 'BEGIN { printf "%.1f", 100 * a }')
    echo "| $2 | $3 | $4 | $steps | $5 s + $6 s | $pct% | $n | $(device_name "$dir/train.log") |" \
        | tee -a "$OUT/table.md"
}
has() { case " $RUNS " in *" $1 "*) return 0 ;; esac; return 1; }

echo "| recipe | init | window | steps | wall time (train + classify) | test accuracy | test windows | device |" > "$OUT/table.md"
echo "|---|---|---|---|---|---|---|---|" >> "$OUT/table.md"
begin=$(date +%s)
note=""
if has fine; then
    if [ ! -f "$PRETRAINED/config.json" ]; then
        PRETRAINED=$OUT/pretrain/train/last
        # shellcheck disable=SC2046 # batch_sets prints --set words
        secs=$(train pretrain "$PRETRAIN_SECONDS" recipes/dna-pretrain.yaml "$(shape "$MODEL")" \
            $(batch_sets "$PRETRAIN_LEN" "$STEP_TOKENS") task.max_tokens=0 \
            task.max_steps="$PRETRAIN_STEPS" task.eval.every=0 task.eval.batches=4)
        note="; pre-trained by this run in $secs s on $PRETRAIN_LEN-base windows"
    fi
    note="Fine-tuned rows start from the dna-pretrain.yaml backbone $PRETRAINED ($(readlink -f \
"$PRETRAINED" | sed 's/.*ckpt-//') steps$note)."
fi
for L in $WINDOWS; do
    for init in fine scratch; do
        has $init || continue
        if [ $init = fine ]; then
            model="model={from: $PRETRAINED, load: backbone}" label=fine-tuned
        else
            model=$(shape "$MODEL") label=scratch
        fi
        name=bacteria-$init-$L
        # shellcheck disable=SC2046 # batch_sets prints --set words
        t=$(train "$name" "$TRAIN_SECONDS" recipes/bacteria-strains.yaml "$model" \
            $(batch_sets "$L" "$STEP_TOKENS") task.max_steps="$STEPS" task.eval.every=0 \
            task.eval.batches=4)
        c=$(classify "$name" recipes/bacteria-strains.yaml "$L")
        row "$name" bacteria-strains $label "$L" "$t" "$c"
    done
done
if has apes; then
    # shellcheck disable=SC2046 # batch_sets prints --set words
    t=$(train apes "$APES_SECONDS" recipes/dna-apes.yaml "$(shape "$APES_MODEL")" \
        $(batch_sets "$APES_WINDOW" $((APES_WINDOW * ${APES_BATCH:-$d_apes_batch}))) \
        task.max_steps="$APES_STEPS" task.eval.every=0)
    c=$(classify apes recipes/dna-apes.yaml "$APES_WINDOW")
    row apes dna-apes scratch "$APES_WINDOW" "$t" "$c"
fi
# markov_row: the dna-apes Markov baseline at APES_WINDOW (its output in OUT/apes-markov.txt)
markov_row() {
    start=$(date +%s) txt=$OUT/apes-markov.txt
    echo "== apes-markov: $MARKOV recipes/dna-apes.yaml --set data.seq_len=$APES_WINDOW" >&2
    if ! "$MARKOV" recipes/dna-apes.yaml --set data.seq_len="$APES_WINDOW" > "$txt" 2>&1; then
        echo "dna-classify-table.sh: the Markov baseline failed; see $txt" >&2
        tail -5 "$txt" >&2
        exit 1
    fi
    # its last line: "chosen order K on val: test accuracy A (H of N windows)" → K A N
    # shellcheck disable=SC2046 # three words
    set -- $(awk '/^chosen order / { print $3, $8, $11 }' "$txt")
    [ $# = 3 ] || { echo "dna-classify-table.sh: no chosen order in $txt" >&2; exit 1; }
    pct=$(awk -v a="$2" 'BEGIN { printf "%.1f", 100 * a }')
    echo "| dna-apes | Markov order $1 per class (chosen on val) | $APES_WINDOW | - |" \
        "$(($(date +%s) - start)) s | $pct% | $3 | CPU |" | tee -a "$OUT/table.md"
}
if has markov; then
    if [ -x "$MARKOV" ]; then
        markov_row
    else
        echo "dna-classify-table.sh: no Markov row: $MARKOV is not built" \
            "(make bench/markov_classify)" >&2
    fi
fi
if has apes || has markov; then
    echo "dna-apes: chance is 20% (5 classes)." | tee -a "$OUT/table.md"
fi
[ -z "$note" ] || echo "$note" | tee -a "$OUT/table.md"
echo "All runs: $(($(date +%s) - begin)) s; commands in $OUT/*/train.cmd" >&2
echo
cat "$OUT/table.md"
