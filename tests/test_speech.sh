#!/bin/sh
# test_speech.sh — the speech recipes as a user checks them, without the synthesised data: a
# fixture tree of empty datasets/sc09/{train,val,test}/0/*.wav files satisfies their globs
# (`mambakit check` does not read the audio); speech-generate.yaml is checked against a fresh
# `mambakit init` model; data/synth_sc09.sh answers --help and refuses a bad argument.
set -u
MK=${MK_BUILDDIR:-.}/cli/mambakit
SRC=${MK_SRCDIR:-.}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
. "$SRC/tests/tap.sh"
echo "1..6"
for s in train val test; do mkdir -p "$T/datasets/sc09/$s/0" && : > "$T/datasets/sc09/$s/0/zero_00000.wav"; done
cd "$T" || exit 1
check "check speech-train.yaml" "$MK" check "$SRC/recipes/speech-train.yaml"
check "check speech-digits-classify.yaml" "$MK" check "$SRC/recipes/speech-digits-classify.yaml"
check "check speech-generate.yaml on a fresh 256-class model" sh -c \
    "'$MK' init --d-model 8 --n-layer 1 --vocab-size 256 --out '$T/m' >/dev/null &&
     '$MK' check '$SRC/recipes/speech-generate.yaml' --set model.from='$T/m'"
check "speech-train.yaml without the data names the missing glob" \
    status_is 1 "no file matches 'datasets/sc09/train" \
    "$MK" check "$SRC/recipes/speech-train.yaml" --set 'data.train.paths=[datasets/sc09/train/*/*.flac]'
check "synth_sc09.sh --help" sh -c "'$SRC/data/synth_sc09.sh' --help | grep -q 'mu-law'"
check "synth_sc09.sh refuses a bad --format" status_is 2 "wav or ulaw" \
    "$SRC/data/synth_sc09.sh" --format mp3
[ "$failed" = 0 ]
