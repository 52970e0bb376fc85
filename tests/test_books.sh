#!/bin/sh
# test_books.sh — the books workflow without the fetched books: data/rdb_text on
# tests/data/books/fixture.rdb (make_rdb_fixture.py; its strings are written out again here
# by hand, Latin-1 made UTF-8, as the reference), its errors on a truncated, a foreign and a
# too-short file and on a missing record; then a fixture tree of fake books (a few lines of
# each), data/books_tokenizer.sh training a small BPE on their first 85%, `mambakit check`
# of recipes/books-lm.yaml and books-generate.yaml, a tiny books-lm trained and sampled, and
# bench/gpu-books.sh's whole CPU smoke run printing its table and 3 samples.
set -u
. "${MK_SRCDIR:-.}/tests/tap.sh"
echo "1..11"
RDB=${MK_BUILDDIR:-.}/data/rdb_text
FIX=$SRC/tests/data/books/fixture.rdb

# record INDEX EXPECTED: rdb_text writes exactly EXPECTED (printf format) for the record
record() {
    # shellcheck disable=SC2059
    printf "$2" > "$T/want" && "$RDB" "$FIX" "$1" > "$T/got" && cmp "$T/want" "$T/got"
}
check "record 0: four strings, an empty one and NA as empty lines" \
    record 0 'PRIDE AND PREJUDICE\n\n\nIt is a truth universally acknowledged\n'
check "record 1: UTF-8 kept, Latin-1 converted, attributes ignored" \
    record 1 'Call me Ishmael \342\200\224 caf\303\251\nna\303\257ve caf\303\251\n'
check "record 2: a long-vector length" record 2 'long\n'
check "the listing names 3 records by their first strings" sh -c \
    "'$RDB' '$FIX' > '$T/list' && printf '0\t4\tPRIDE AND PREJUDICE\n1\t2\tCall me Ishmael \342\200\224 caf\303\251\n2\t1\tlong\n' | cmp - '$T/list'"
# the last record cut short: records 0 and 1 still read, record 2's error names it
head -c 260 "$FIX" > "$T/truncated.rdb"
check "a truncated file: the error names the record and says truncated" sh -c \
    "'$RDB' '$T/truncated.rdb' 1 >/dev/null &&
     ! '$RDB' '$T/truncated.rdb' 2 > /dev/null 2> '$T/trunc.err' &&
     grep -q 'truncated.rdb: record 2 (at byte [0-9]*): .*truncated' '$T/trunc.err'"
head -c 3 "$FIX" > "$T/tiny.rdb"
check "three bytes, a text file, a missing record: clear errors" sh -c \
    "! '$RDB' '$T/tiny.rdb' 2> '$T/e1' && grep -q 'record 0 .*a truncated file' '$T/e1' &&
     ! '$RDB' '$SRC/recipes/books-lm.yaml' 2> '$T/e2' && grep -q 'no zlib stream' '$T/e2' &&
     ! '$RDB' '$FIX' 3 2> '$T/e3' && grep -q 'no record 3 (the file has 3)' '$T/e3'"

# the fixture tree: fake books, 40 lines each (words of the three openings)
mkdir -p "$T/datasets/books"
for b in austen-emma moby-dick kjv; do
    i=0
    while [ $i -lt 40 ]; do
        echo "$b $i: It is a truth universally acknowledged. Call me Ishmael. In the beginning God."
        i=$((i + 1))
    done > "$T/datasets/books/$b.txt"
done
cd "$T" || exit 1
check "books_tokenizer.sh trains a BPE on the books' first 85%" sh -c \
    "'$SRC/data/books_tokenizer.sh' --mambakit '$MK' --vocab-size 300 && grep -q '\"merges\"' datasets/books/tokenizer.json"
check "check books-lm.yaml" "$MK" check "$SRC/recipes/books-lm.yaml"
tiny="--set model.d_model=8 --set model.n_layer=1 --set data.seq_len=32 --set data.micro_batch=2 --set data.global_batch=2"
# shellcheck disable=SC2086
check "a tiny books-lm trains; books-generate.yaml checks and samples from it" sh -c \
    "'$MK' run '$SRC/recipes/books-lm.yaml' $tiny --set task.epochs=0 --set task.max_steps=2 \
         --set task.eval.every=0 --set run.log.progress=none &&
     '$MK' check '$SRC/recipes/books-generate.yaml' > /dev/null &&
     '$MK' run '$SRC/recipes/books-generate.yaml' --set task.length=8 --set task.stream=false \
         --set run.log.progress=none &&
     grep -q '^It is a truth universally acknowledged' runs/books-generate/samples/sample-3.txt"
# gpu-books.sh from a copy of the layout it expects (recipes/, data/ beside datasets/)
ln -s "$SRC/recipes" recipes && ln -s "$SRC/data" data
# shellcheck disable=SC2086
check "gpu-books.sh on a tiny CPU model: the table and 3 samples" sh -c \
    "TRAIN_SETS='$tiny' STEPS=2 PRECISION=fp32 GEN_LEN=8 MAMBAKIT='$MK' OUT=bench \
        '$SRC/bench/gpu-books.sh' > md 2> bench.err &&
     grep -q '^books-lm (.*): 2 steps, 128 training tokens in' md &&
     grep -q '^| val | [0-9.]* | [0-9.]* | [0-9.]* |$' md &&
     grep -q '^| test | [0-9.]* | [0-9.]* | [0-9.]* |$' md &&
     [ \$(grep -c '^Sample [123] (8 tokens' md) = 3 ] && grep -q '^Call me Ishmael.' md"
check "gpu-books.sh without MAMBAKIT is refused" sh -c \
    "! env -u MAMBAKIT OUT=x '$SRC/bench/gpu-books.sh' 2> e4 && grep -q 'set MAMBAKIT' e4"
[ "$failed" = 0 ]
