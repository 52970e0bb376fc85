#!/bin/sh
# gpu-books.sh — recipes/books-lm.yaml on one GPU in under a minute: train in bf16 for a
# fixed number of steps, score the validation and test splits (loss in nats per token, bits
# per byte), generate one sample per prompt, and print a Markdown block with the numbers and
# the samples (also in $OUT/books.md). Run from the repository root:
#   MAMBAKIT=build/cli/mambakit OUT=/tmp/out bench/gpu-books.sh
# Data: datasets/books (data/fetch_debian.sh books); datasets/books/tokenizer.json is trained
# here (data/books_tokenizer.sh, about a second) when missing.
# The step budget, chosen on the validation split: on an H200 in bf16 the recipe's 8 x 512
# model trains at ~540K tokens/s, and runs of 100, 170, 250 and 500 steps of 32 x 1024 tokens
# (each its own cosine schedule) ended at validation losses 4.92, 4.53, 4.28 and 4.68 nats:
# past ~4 passes over the 2.2M training tokens the model overfits. STEPS=250 (3.7 passes)
# takes ~18 s of training.
# Environment (defaults): STEPS [250], PRECISION [bf16], GEN_LEN [200] tokens per sample,
# PROMPTS (one per line) [the openings of Pride and Prejudice, Moby Dick, Genesis],
# TRAIN_SETS: more --set arguments for training only, e.g. for a CPU smoke test
#   TRAIN_SETS='--set model.d_model=16 --set model.n_layer=1 --set data.seq_len=64' \
#   STEPS=5 PRECISION=fp32 GEN_LEN=20 MAMBAKIT=... OUT=... bench/gpu-books.sh
# Each run's log goes to $OUT/NAME.log, its wall time to $OUT/summary.tsv.
set -eu
: "${MAMBAKIT:?set MAMBAKIT to the mambakit binary}" "${OUT:?set OUT to the output directory}"
STEPS=${STEPS:-250} PRECISION=${PRECISION:-bf16} GEN_LEN=${GEN_LEN:-200} TRAIN_SETS=${TRAIN_SETS:-}
PROMPTS=${PROMPTS:-"It is a truth universally acknowledged
Call me Ishmael.
In the beginning"}
[ -f datasets/books/kjv.txt ] || { echo "gpu-books.sh: no datasets/books (run data/fetch_debian.sh books)" >&2; exit 1; }
[ -f datasets/books/tokenizer.json ] || data/books_tokenizer.sh --mambakit "$MAMBAKIT"
mkdir -p "$OUT"
runs=$OUT/runs
printf 'step\twall_s\tcommand\n' > "$OUT/summary.tsv"

# step NAME RECIPE ARGS...: one mambakit run, logged and timed (seconds in $wall)
step() {
    name=$1; recipe=$2; shift 2
    t0=$(date +%s.%N)
    "$MAMBAKIT" run "$recipe" --set run.log.progress=lines "$@" > "$OUT/$name.log" 2>&1 ||
        { echo "gpu-books.sh: $name failed, see $OUT/$name.log" >&2; tail -5 "$OUT/$name.log" >&2; exit 1; }
    wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
    printf '%s\t%s\tmambakit run %s %s\n' "$name" "$wall" "$recipe" "$*" >> "$OUT/summary.tsv"
    echo "$name: $wall s" >&2
}

# json_num FILE KEY: a number of a flat JSON object (eval.json)
json_num() { sed -n "s/.*\"$2\": \([-0-9.e+]*\).*/\1/p" "$1"; }

# shellcheck disable=SC2086
step train recipes/books-lm.yaml --set task.epochs=0 --set task.max_steps="$STEPS" \
    --set run.precision="$PRECISION" --set run.out="$runs/books-lm" $TRAIN_SETS
train_wall=$wall
for split in val test; do
    step "eval-$split" recipes/books-lm.yaml --set task.kind=eval --set task.split=$split \
        --set "model={from: $runs/books-lm/last}" --set task.eval.batches=0 \
        --set run.out="$runs/eval-$split"
done
i=0
printf '%s\n' "$PROMPTS" | while IFS= read -r prompt; do
    i=$((i + 1))
    step "generate-$i" recipes/books-generate.yaml --set model.from="$runs/books-lm/last" \
        --set task.prompt="$prompt" --set task.num_samples=1 --set task.length="$GEN_LEN" \
        --set task.stream=false --set run.out="$runs/generate-$i"
done

device=$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1 || true)
tokens=$(sed -n 's/^training [0-9]* steps of \([0-9]*\) x \([0-9]*\) tokens.*/\1 \2/p' "$OUT/train.log" |
         awk -v s="$STEPS" '{ print s * $1 * $2 }')
{
    echo "books-lm ($(date -u +%Y-%m-%d), ${device:-CPU}, run.precision $PRECISION): $STEPS steps," \
        "$tokens training tokens in $train_wall s"
    echo
    echo "| split | loss (nats/token) | perplexity | bits per byte |"
    echo "|---|---|---|---|"
    for split in val test; do
        e=$runs/eval-$split/eval.json
        printf '| %s | %.4f | %.1f | %.4f |\n' $split "$(json_num "$e" loss)" \
            "$(json_num "$e" perplexity)" "$(json_num "$e" bits_per_byte)"
    done
    i=0
    printf '%s\n' "$PROMPTS" | while IFS= read -r prompt; do
        i=$((i + 1))
        echo
        echo "Sample $i ($GEN_LEN tokens; temperature 0.8, top-p 0.95):"
        echo
        echo '```text'
        cat "$runs/generate-$i"/samples/*
        echo
        echo '```'
    done
} | tee "$OUT/books.md"
