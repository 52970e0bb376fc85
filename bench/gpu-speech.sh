#!/bin/sh
# gpu-speech.sh — the speech workflow of recipes/speech-*.yaml at full size on one GPU:
# train the mu-law LM, test NLL (bits per sample), generate 1 s clips, train the digit
# classifier, test it on the synthetic test split and on the real recordings, and score the
# generated clips (Inception Score, share labelled with probability >= 0.9). Run from the
# repository root:
#   MAMBAKIT=build/cli/mambakit OUT=/tmp/out bench/gpu-speech.sh
# Data: datasets/sc09 (data/synth_sc09.sh; or SC09_ARCHIVE=FILE.tar.xz from its --archive,
# unpacked into datasets/) and optionally datasets/digits (data/fetch_debian.sh digits).
# Sizes (environment; the defaults aim at 6-8 minutes on an H200): LM_STEPS [1500],
# CLS_STEPS [600], N_GEN [32], BATCH [16], TRAIN_SETS (more --set arguments for the two
# training runs, e.g. for a CPU smoke test: TRAIN_SETS='--set model.d_model=16'), LM_SETS
# (more for the language model only, e.g. LM_SETS='--set model.d_model=128').
# Each step's log and wall time go to $OUT/NAME.log; a summary to $OUT/summary.tsv.
set -eu
: "${MAMBAKIT:?set MAMBAKIT to the mambakit binary}" "${OUT:?set OUT to the output directory}"
LM_STEPS=${LM_STEPS:-1500} CLS_STEPS=${CLS_STEPS:-600} N_GEN=${N_GEN:-32} BATCH=${BATCH:-16}
TRAIN_SETS=${TRAIN_SETS:-} LM_SETS=${LM_SETS:-}
mkdir -p "$OUT"
if [ -n "${SC09_ARCHIVE:-}" ] && [ ! -d datasets/sc09 ]; then
    mkdir -p datasets && tar -C datasets -xJf "$SC09_ARCHIVE"
fi
[ -d datasets/sc09/train ] || { echo "gpu-speech.sh: no datasets/sc09 (run data/synth_sc09.sh)" >&2; exit 1; }
runs=$OUT/runs
printf 'step\twall_s\tcommand\n' > "$OUT/summary.tsv"

# step NAME RECIPE ARGS...: one mambakit run, logged and timed
step() {
    name=$1; recipe=$2; shift 2
    t0=$(date +%s.%N)
    "$MAMBAKIT" run "$recipe" "$@" > "$OUT/$name.log" 2>&1 ||
        { echo "gpu-speech.sh: $name failed, see $OUT/$name.log" >&2; tail -5 "$OUT/$name.log" >&2; exit 1; }
    wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
    printf '%s\t%s\tmambakit run %s %s\n' "$name" "$wall" "$recipe" "$*" >> "$OUT/summary.tsv"
    echo "$name: $wall s"
}

# shellcheck disable=SC2086
step lm-train recipes/speech-train.yaml --set task.max_steps="$LM_STEPS" \
    --set data.micro_batch="$BATCH" --set run.out="$runs/speech-train" $TRAIN_SETS $LM_SETS
step lm-test recipes/speech-train.yaml --set task.kind=eval \
    --set "model={from: $runs/speech-train/last}" --set run.out="$runs/speech-eval"
step generate recipes/speech-generate.yaml --set model.from="$runs/speech-train/last" \
    --set task.num_samples="$N_GEN" --set run.out="$runs/speech-generate"
# shellcheck disable=SC2086
step cls-train recipes/speech-digits-classify.yaml --set task.max_steps="$CLS_STEPS" \
    --set data.micro_batch="$BATCH" --set run.out="$runs/speech-digits-classify" $TRAIN_SETS
# classify: the classifier's checkpoint replaces the recipe's model section
cls() {
    name=$1; shift
    step "$name" recipes/speech-digits-classify.yaml --set task.kind=classify \
        --set "model={from: $runs/speech-digits-classify/last}" "$@"
}
cls cls-test --set run.out="$runs/speech-digits-test"
if [ -d datasets/digits ]; then
    cls cls-allison \
        --set "data.test.paths=[datasets/digits/*/allison.wav]" --set run.out="$runs/speech-digits-allison"
    cls cls-saytime \
        --set "data.test.paths=[datasets/digits/*/saytime.ul]" --set data.raw_format=ulaw \
        --set data.raw_rate=8000 --set run.out="$runs/speech-digits-saytime"
fi
cls score --set data.test.labels=none \
    --set "data.test.paths=[$runs/speech-generate/samples/*.wav]" --set run.out="$runs/speech-score"
for d in "$runs"/speech-digits-* "$runs"/speech-score; do
    if [ -f "$d/classify.json" ]; then cp "$d/classify.json" "$OUT/$(basename "$d").classify.json"; fi
done
mkdir -p "$OUT/samples" && cp "$runs"/speech-generate/samples/*.wav "$OUT/samples/"
# the picture: generated clips (top row) above one real test clip per digit
"$MAMBAKIT" spectrogram -o "$OUT/spectrogram.png" "$runs/speech-generate/samples/*.wav" \
    'datasets/sc09/test/*/*_0000?.wav'
grep -E "bits_per_token|accuracy|inception" "$OUT"/*.log | tee "$OUT/results.txt"
