#!/bin/sh
# test_speech.sh — the speech recipes as a user checks them, without the synthesised data: a
# fixture tree of empty datasets/sc09/{train,val,test}/0/*.wav files satisfies their globs
# (`mambakit check` does not read the audio); speech-generate.yaml is checked against a fresh
# `mambakit init` model, which also generates 3 short clips under a progress bar;
# data/synth_sc09.sh answers --help and refuses a bad argument.
set -u
. "${MK_SRCDIR:-.}/tests/tap.sh"
echo "1..10"
for s in train val test; do mkdir -p "$T/datasets/sc09/$s/0" && : > "$T/datasets/sc09/$s/0/zero_00000.wav"; done
cd "$T" || exit 1
check "check speech-train.yaml" "$MK" check "$SRC/recipes/speech-train.yaml"
check "check speech-digits-classify.yaml" "$MK" check "$SRC/recipes/speech-digits-classify.yaml"
check "check speech-generate.yaml on a fresh 256-class model" sh -c \
    "'$MK' init --d-model 8 --n-layer 1 --vocab-size 256 --out '$T/m' >/dev/null &&
     '$MK' check '$SRC/recipes/speech-generate.yaml' --set model.from='$T/m'"
# generating 3 short clips from that model: 3 WAV files, and with run.log.progress=bar a bar
# counting to 3 x 200 tokens with its rate (a clip may end early: the fresh model's EOS is
# token 0), the files' lines printed below it
check "speech-generate.yaml writes 3 clips under a progress bar" sh -c \
    "'$MK' run '$SRC/recipes/speech-generate.yaml' --set model.from='$T/m' --set run.device=cpu \
       --set task.num_samples=3 --set task.length=200 --set run.out='$T/g' \
       --set run.log.progress=bar 2> '$T/g.err' >/dev/null &&
     [ \"\$(ls '$T'/g/samples/sample-*.wav | wc -l)\" = 3 ] &&
     tr '\\r' '\\n' < '$T/g.err' | grep -q '/600 .*tok/s' &&
     grep -q 'wrote .*sample-3.wav' '$T/g.err'"
# a model of more weights than the CPU's caches (12 x 512, 82 MB) generates its clips in one
# batch of steps: the same clips as one at a time (streamed), sample by sample
check "a large model's clips in one batch equal those made one at a time" sh -c \
    "'$MK' init --d-model 512 --n-layer 12 --vocab-size 256 --out '$T/big' >/dev/null &&
     for s in true false; do '$MK' run '$SRC/recipes/speech-generate.yaml' --set model.from='$T/big' \
       --set run.device=cpu --set task.num_samples=3 --set task.length=12 --set task.stream=\$s \
       --set run.out='$T/big-'\$s --set run.log.progress=none >/dev/null 2>&1 || exit 1; done &&
     for i in 1 2 3; do cmp -s '$T'/big-true/samples/sample-\$i.wav '$T'/big-false/samples/sample-\$i.wav || exit 1; done"
check "speech-train.yaml without the data names the missing glob" \
    status_is 1 "no file matches 'datasets/sc09/train" \
    "$MK" check "$SRC/recipes/speech-train.yaml" --set 'data.train.paths=[datasets/sc09/train/*/*.flac]'
check "synth_sc09.sh --help" sh -c "'$SRC/data/synth_sc09.sh' --help | grep -q 'mu-law'"
check "synth_sc09.sh refuses a bad --format" status_is 2 "wav or ulaw" \
    "$SRC/data/synth_sc09.sh" --format mp3
# spectrogram: a 1 s 440 Hz tone made by sox (in .ci/deps), drawn in two rows
if command -v sox >/dev/null; then
    check "spectrogram draws two rows of clips as a PNG" sh -c \
        "sox -n -r 16000 -b 16 '$T/tone.wav' synth 1 sine 440 &&
         '$MK' spectrogram -o '$T/s.png' '$T/tone.wav' '$T/tone.wav' >/dev/null &&
         [ \"\$(head -c 4 '$T/s.png' | tail -c 3)\" = PNG ]"
else
    n=$((n + 1)); echo "ok $n - # SKIP spectrogram: no sox to make a clip"
fi
check "spectrogram names a glob that matches nothing" \
    status_is 1 "no file matches 'nothing" "$MK" spectrogram -o "$T/x.png" 'nothing*.wav'
[ "$failed" = 0 ]
