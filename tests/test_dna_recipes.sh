#!/bin/sh
# test_dna_recipes.sh — the DNA recipes as a user runs them, without the fetched genomes: a
# fixture tree of the 16 bacterial genome names (each the shipped human mtDNA FASTA.gz)
# satisfies their globs; `mambakit check` accepts dna-pretrain.yaml and dna-species.yaml; an
# out-of-range Markov order is refused; and a tiny model trains and is evaluated with the
# Markov baseline, whose orders 1..3 appear in eval.json.
set -u
. "${MK_SRCDIR:-.}/tests/tap.sh"
echo "1..5"
for g in E.Coli/DH1 E.Coli/MG1655-K12 V.Cholerae/H1 V.Cholerae/O395 S.Aureus/COL S.Aureus/N315 \
         H.Pylori/G27 H.Pylori/ELS37; do
    mkdir -p "$T/datasets/bacteria/${g%/*}" && cp "$SRC/tests/data/dna/MT-human.fa.gz" "$T/datasets/bacteria/$g.fasta.gz"
done
cd "$T" || exit 1
check "check dna-pretrain.yaml" "$MK" check "$SRC/recipes/dna-pretrain.yaml"
check "check dna-species.yaml" "$MK" check "$SRC/recipes/dna-species.yaml" \
    --set 'model={d_model: 8, n_layer: 1}'
check "a Markov order of 13 is refused" status_is 1 "task.baseline.markov_order" \
    "$MK" check "$SRC/recipes/dna-pretrain.yaml" --set task.baseline.markov_order=13
tiny="--set model.d_model=8 --set model.n_layer=1 --set data.seq_len=64 --set data.micro_batch=2"
# shellcheck disable=SC2086
check "a tiny dna-pretrain trains" "$MK" run "$SRC/recipes/dna-pretrain.yaml" $tiny \
    --set data.global_batch=2 --set task.max_tokens=0 --set task.max_steps=3 \
    --set task.eval.every=0 --set run.out=m --set run.log.progress=none
# shellcheck disable=SC2086
check "eval reports the model and Markov orders 1-3 on the test strains" sh -c \
    "'$MK' run '$SRC/recipes/dna-pretrain.yaml' --set data.seq_len=64 --set data.micro_batch=2 \
        --set task.kind=eval --set 'model={from: m/last}' --set task.eval.batches=2 \
        --set task.baseline.markov_order=3 --set run.out=e --set run.log.progress=none &&
     grep -q '\"markov_bits_per_token\": \\[[0-9.]*, [0-9.]*, [0-9.]*\\]' e/eval.json &&
     grep -q '\"markov_best\": {\"order\": [123]' e/eval.json"
[ "$failed" = 0 ]
