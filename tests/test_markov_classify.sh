#!/bin/sh
# test_markov_classify.sh — bench/markov_classify, the per-class Markov baseline of a
# classification recipe, on two synthetic 6 kbp genomes cut like dna-apes.yaml (region split
# 60/10/30): "iid" draws A, C, G, T uniformly; "chain" follows each base by the next one of
# A C G T A ... with probability 0.7, else by a uniform draw, so both have the same base
# composition (uniform) and only an order >= 1 model tells them apart, perfectly over 100-base
# windows (about 60 nats of log-likelihood ratio per window). Checked: the window counts of
# the validation and test blocks (counted here from the block lengths, and the test count
# equal to what `mambakit run` task.kind classify reports), every order classifying the test
# windows correctly, the lowest order chosen on validation, --stride's overlapping windows,
# and a recipe that is no classifier refused with a message naming it.
set -u
. "${MK_SRCDIR:-.}/tests/tap.sh"
MC=${MK_BUILDDIR:-.}/bench/markov_classify
echo "1..6"
cd "$T" || exit 1
bases=6000
awk -v n=$bases 'BEGIN {
    srand(7); split("A C G T", b, " ")
    printf ">iid\n"
    for (i = 0; i < n; i++) printf "%s%s", b[int(4 * rand()) + 1], (i % 60 == 59 ? "\n" : "")
    printf "\n>chain\n"; p = 0
    for (i = 0; i < n; i++) {
        p = rand() < 0.7 ? p % 4 + 1 : int(4 * rand()) + 1
        printf "%s%s", b[p], (i % 60 == 59 ? "\n" : "")
    }
    printf "\n" }' > both.fasta
sed -n '/>iid/,/>chain/p' both.fasta | sed '$d' > iid.fasta
sed -n '/>chain/,$p' both.fasta > chain.fasta
printf 'iid.fasta\tiid\nchain.fasta\tchain\n' > labels.tsv
cat > r.yaml <<'EOF'
version: 1
model: {d_model: 8, n_layer: 1}
data:
  plugin: dna
  train: {paths: [iid.fasta, chain.fasta], labels: "tsv:labels.tsv"}
  split: {by: region, ratio: [0.6, 0.1, 0.3]}
  seq_len: 100
  micro_batch: 4
  global_batch: 4
task: {kind: train, objective: classify, max_steps: 1}
run: {out: r, device: cpu, log: {progress: none}}
EOF
# windows of L every S bases in the block [floor(a n), floor(b n)) of each of the 2 genomes
windows() {
    awk -v n=$bases -v a="$1" -v b="$2" -v L="$3" -v S="$4" \
        'BEGIN { len = int(b * n) - int(a * n); print 2 * (int((len - L) / S) + 1) }'
}
val=$(windows 0.6 0.7 100 100) test=$(windows 0.7 1 100 100)
check "2 classes, $val validation and $test test windows of 100 bases" sh -c \
    "'$MC' r.yaml --orders 3 > mc.txt &&
     grep -q '^2 classes; $val validation and $test test windows of 100 tokens, stride 100' mc.txt"
check "  the test windows are those task.kind classify cuts" sh -c \
    "'$MK' run r.yaml > /dev/null && '$MK' run r.yaml --set task.kind=classify \
        --set 'model={from: r/last}' --set run.out=c > /dev/null &&
     grep -q '\"n\": $test,' c/classify.json"
check "  orders 1-3 classify every validation and test window correctly" sh -c \
    "[ \$(grep -c '^ *[123]  *1.0000  *1.0000\$' mc.txt) = 3 ]"
check "  order 1 is chosen on validation: $test of $test" \
    grep -q "^chosen order 1 on val: test accuracy 1.0000 ($test of $test windows)" mc.txt
strided=$(windows 0.7 1 100 30)
check "--stride 30: $strided overlapping test windows" sh -c \
    "'$MC' r.yaml --orders 1 --stride 30 |
     grep -q 'and $strided test windows of 100 tokens, stride 30'"
check "a language-model recipe is refused" status_is 1 "r.yaml: task.objective is not classify" \
    "$MC" r.yaml --set task.objective=lm
[ "$failed" = 0 ]
