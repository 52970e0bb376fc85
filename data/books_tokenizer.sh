#!/bin/sh
# books_tokenizer.sh — the byte-level BPE tokenizer of recipes/books-lm.yaml, trained on the
# training region of the books only: the first 85% of the bytes of every DIR/*.txt (the recipe
# holds out the last 10% of every book's tokens for val and test; 85% leaves a margin, since
# the token-to-byte ratio varies along a book).
#
#   data/books_tokenizer.sh [--mambakit PROGRAM] [--vocab-size N] [DIR]
#
# DIR defaults to datasets/books (data/fetch_debian.sh books), N to 8192, PROGRAM to
# $MAMBAKIT or `mambakit`. Writes DIR/tokenizer.json.
set -eu
mambakit=${MAMBAKIT:-mambakit}
vocab=8192
while [ $# -gt 0 ]; do
    case $1 in
    --mambakit) mambakit=$2; shift 2 ;;
    --vocab-size) vocab=$2; shift 2 ;;
    -h|--help) sed -n '2,10s/^# \{0,1\}//p' "$0"; exit 0 ;;
    -*) echo "books_tokenizer.sh: unknown option '$1'" >&2; exit 2 ;;
    *) break ;;
    esac
done
dir=${1:-datasets/books}
set -- "$dir"/*.txt
[ -f "$1" ] || { echo "books_tokenizer.sh: no $dir/*.txt (run data/fetch_debian.sh books)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for f in "$@"; do
    head -c $(( $(wc -c < "$f") * 85 / 100 )) "$f" > "$work/$(basename "$f")"
done
"$mambakit" tokenizer train --vocab-size "$vocab" --out "$dir/tokenizer.json" "$work"/*.txt
