#!/bin/sh
# test_dna_recipes.sh — the DNA recipes as a user runs them, without the fetched genomes: a
# fixture tree of the bacterial genome names (each the shipped human mtDNA FASTA.gz) and of
# the 6 ape genomes with their labels.tsv (each that FASTA unpacked) satisfies their paths;
# `mambakit check` accepts dna-pretrain.yaml, bacteria-strains.yaml and dna-apes.yaml; an
# out-of-range Markov order is refused; a tiny model trains and is evaluated with the Markov
# baseline, whose orders 1..3 appear in eval.json beside the next-base accuracy (and no
# per-window exact match); and a tiny dna-apes classifier trains and
# classifies the test blocks: the paper's 5 classes (no gibbon), and per class exactly the
# windows of the last 30% of the genome, counted here from the FASTA.
set -u
. "${MK_SRCDIR:-.}/tests/tap.sh"
echo "1..9"
for g in E.Coli/DH1 E.Coli/MG1655-K12 V.Cholerae/H1 V.Cholerae/O395 V.Cholerae/O1_Inaba \
         S.Aureus/COL S.Aureus/N315 S.Aureus/JKD6008 H.Pylori/G27 H.Pylori/ELS37 \
         H.Pylori/Gambia94_24; do
    mkdir -p "$T/datasets/bacteria/${g%/*}" && cp "$SRC/tests/data/dna/MT-human.fa.gz" "$T/datasets/bacteria/$g.fasta.gz"
done
mkdir -p "$T/datasets/apes"
for a in bonobo chimpanzee gorilla rCRS sumatran_orangutan white_handed_gibbon; do
    gzip -dc "$SRC/tests/data/dna/MT-human.fa.gz" > "$T/datasets/apes/$a.fasta"
    printf '%s.fasta\t%s\n' $a "$(echo $a | sed 's/rCRS/human/')" >> "$T/datasets/apes/labels.tsv"
done
cd "$T" || exit 1
check "check dna-pretrain.yaml" "$MK" check "$SRC/recipes/dna-pretrain.yaml"
check "check bacteria-strains.yaml (from scratch)" "$MK" check "$SRC/recipes/bacteria-strains.yaml" \
    --set 'model={d_model: 8, n_layer: 1}'
check "check dna-apes.yaml" "$MK" check "$SRC/recipes/dna-apes.yaml"
check "a Markov order of 13 is refused" status_is 1 "task.baseline.markov_order" \
    "$MK" check "$SRC/recipes/dna-pretrain.yaml" --set task.baseline.markov_order=13
tiny="--set model.d_model=8 --set model.n_layer=1 --set data.seq_len=64 --set data.micro_batch=2"
# shellcheck disable=SC2086
check "a tiny dna-pretrain trains" "$MK" run "$SRC/recipes/dna-pretrain.yaml" $tiny \
    --set data.global_batch=2 --set task.max_tokens=0 --set task.max_steps=3 \
    --set task.eval.every=0 --set run.out=m --set run.log.progress=none
# shellcheck disable=SC2086
check "eval reports the model and Markov orders 1-3 on the test strains (under a bar)" sh -c \
    "'$MK' run '$SRC/recipes/dna-pretrain.yaml' --set data.seq_len=64 --set data.micro_batch=2 \
        --set task.kind=eval --set 'model={from: m/last}' --set task.eval.batches=2 \
        --set task.baseline.markov_order=3 --set run.out=e --set run.log.progress=bar 2> e.err &&
     tr '\\r' '\\n' < e.err | grep -q ' 2/2 100%.*tok/s' &&
     grep -q '\"markov_bits_per_token\": \\[[0-9.]*, [0-9.]*, [0-9.]*\\]' e/eval.json &&
     grep -q '\"markov_best\": {\"order\": [123]' e/eval.json"
check "  and the next-base accuracy, without a per-window exact match (a window is no example)" \
    sh -c "grep -q '\"accuracy\": [0-9.]*, \"targets\": [1-9][0-9]*,' e/eval.json && ! grep -q exact_match e/eval.json"
# strains_classified: bacteria-strains fine-tuned from the tiny pre-trained model (its
# backbone), then every 64-base window of the 4 test strains classified into the 4 species
# (under a progress bar that counts them)
strains_classified() {
    tiny="--set data.seq_len=64 --set data.micro_batch=2 --set run.log.progress=none"
    # shellcheck disable=SC2086
    "$MK" run "$SRC/recipes/bacteria-strains.yaml" $tiny --set model.from=m/last \
        --set data.global_batch=2 --set task.max_steps=2 --set task.eval.every=0 \
        --set task.eval.batches=1 --set run.out=s || return 1
    # shellcheck disable=SC2086
    "$MK" run "$SRC/recipes/bacteria-strains.yaml" $tiny --set task.kind=classify \
        --set 'model={from: s/last}' --set run.out=s-test --set run.log.progress=bar \
        2> s-test.err || return 1
    bases=$(gzip -dc datasets/bacteria/E.Coli/DH1.fasta.gz | grep -v '>' | tr -d '\n' | wc -c)
    windows=$((4 * ((bases - 64) / 64 + 1)))
    tr '\r' '\n' < s-test.err | grep -q " $windows/$windows 100%" ||
        { echo "no bar counting to $windows windows: $(tail -c 300 s-test.err)" >&2; return 1; }
    grep -q '"labels": \["E.Coli", "H.Pylori", "S.Aureus", "V.Cholerae"\]' s-test/classify.json &&
        grep -q "\"n\": $windows," s-test/classify.json ||
        { echo "expected $windows windows of 4 classes: $(cat s-test/classify.json)" >&2; return 1; }
}
check "a tiny bacteria-strains fine-tunes and classifies the 4 test strains" strains_classified
# apes_classified: 5 labels without the gibbon; each row of the confusion matrix (one true
# class) holds the windows of 64 bases in the test block [floor(0.7 n), n) of its genome
apes_classified() {
    tiny="--set model.d_model=8 --set model.n_layer=1 --set data.seq_len=64 --set data.micro_batch=4"
    # shellcheck disable=SC2086
    "$MK" run "$SRC/recipes/dna-apes.yaml" $tiny --set data.global_batch=4 \
        --set task.max_steps=3 --set task.eval.every=0 --set run.out=a \
        --set run.log.progress=none || return 1
    # shellcheck disable=SC2086
    "$MK" run "$SRC/recipes/dna-apes.yaml" $tiny --set task.kind=classify \
        --set 'model={from: a/last}' --set run.out=a-test --set run.log.progress=none || return 1
    bases=$(grep -v '>' datasets/apes/rCRS.fasta | tr -d '\n' | wc -c)
    per_class=$(awk -v n="$bases" 'BEGIN { len = n - int(0.7 * n); print int((len - 64) / 64) + 1 }')
    row="\\[[0-9]*, [0-9]*, [0-9]*, [0-9]*, [0-9]*\\]"
    grep -q '"labels": \["bonobo", "chimpanzee", "gorilla", "human", "sumatran_orangutan"\]' \
        a-test/classify.json || { echo "wrong labels: $(cat a-test/classify.json)" >&2; return 1; }
    grep -q "\"confusion\": \\[$row, $row, $row, $row, $row\\]" a-test/classify.json ||
        { echo "no 5 x 5 confusion matrix: $(cat a-test/classify.json)" >&2; return 1; }
    sums=$(sed 's/.*"confusion": \[//; s/\]\]}*//; s/\], \[/\n/g; s/\[//g' a-test/classify.json |
           awk -F', ' '{ s = 0; for (i = 1; i <= NF; i++) s += $i; printf "%d ", s }')
    want=$(printf '%d %d %d %d %d ' "$per_class" "$per_class" "$per_class" "$per_class" "$per_class")
    [ "$sums" = "$want" ] || { echo "windows per class: $sums, expected $want" >&2; return 1; }
}
check "a tiny dna-apes trains and classifies the 5 test blocks" apes_classified
[ "$failed" = 0 ]
