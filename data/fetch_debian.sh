#!/bin/sh
# fetch_debian.sh — real data sets for mambakit from Debian packages (../shared/DATA.md), with
# no root and no install: `apt-get download PKG`, `dpkg -x`, copy, check every file against
# data/debian.sha256. Each set's directory gets the package's copyright file as LICENSE.
#
#   data/fetch_debian.sh [--dest DIR] SET...       (DIR defaults to ./datasets)
#
# Sets and the recipe keys that read them:
#   apes      6 great-ape mitochondrial genomes (paleomix, MIT): apes/*.fasta, and
#             apes/labels.tsv naming each file's species; plugin: dna, labels: tsv:apes/labels.tsv
#   bacteria  16 bacterial genomes of 4 species (ragout-examples, BSD-3-Clause):
#             bacteria/SPECIES/STRAIN.fasta.gz; plugin: dna, labels: dir
#   digits    spoken digits 0-9 by two speakers: digits/D/allison.wav (8 kHz 16-bit WAV,
#             asterisk-core-sounds-en-wav, CC-BY-SA-3.0) and digits/D/saytime.ul (headerless
#             8 kHz mu-law, saytime, GPL); plugin: audio, labels: dir, for the .ul files
#             raw_format: ulaw, raw_rate: 8000
#   books     9.6 MB of English prose, public domain texts, UTF-8, one file per book: Jane
#             Austen's six novels books/austen-*.txt (r-cran-janeaustenr) and Moby Dick
#             books/moby-dick.txt (r-cran-tokenizers; Gutenberg header and licence cut), both
#             taken out of R data files by data/rdb_text.c (compiled here with cc and zlib),
#             and the King James Bible books/kjv.txt (bible-kjv's own `bible` program on
#             bible-kjv-text's data: "Book N" headings, one numbered verse a line);
#             plugin: text (recipes/books-lm.yaml)
#   all       all of the above
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dest=datasets
sets=
while [ $# -gt 0 ]; do
    case $1 in
    --dest) dest=$2; shift 2 ;;
    --dest=*) dest=${1#--dest=}; shift ;;
    -h|--help) sed -n '2,27s/^# \{0,1\}//p' "$0"; exit 0 ;;
    all) sets="$sets apes bacteria digits books"; shift ;;
    apes|bacteria|digits|books) sets="$sets $1"; shift ;;
    *) echo "fetch_debian.sh: unknown set '$1' (apes, bacteria, digits, books, all)" >&2; exit 2 ;;
    esac
done
[ -n "$sets" ] || { echo "usage: fetch_debian.sh [--dest DIR] apes|bacteria|digits|books|all..." >&2; exit 2; }
for tool in apt-get dpkg sha256sum; do
    command -v $tool >/dev/null || { echo "fetch_debian.sh: needs $tool (a Debian or Ubuntu system)" >&2; exit 1; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$dest"

# unpack PKG: downloads and unpacks the package into $work/root
unpack() {
    if ! (cd "$work" && apt-get download "$1" >/dev/null 2>"$work/apt.err"); then
        echo "fetch_debian.sh: cannot download the Debian package $1:" >&2
        sed 's/^/  /' "$work/apt.err" >&2
        echo "  (run 'apt-get update' first; the package is in Debian bookworm and Ubuntu)" >&2
        exit 1
    fi
    dpkg -x "$work/$1"_*.deb "$work/root"
    cp "$work/root/usr/share/doc/$1/copyright" "$work/$1.copyright"
}

# place SRC DST LICENSEDIR PKG: copies one file under $dest
place() {
    mkdir -p "$dest/$(dirname "$2")"
    cp "$1" "$dest/$2"
    cp "$work/$4.copyright" "$dest/$3/LICENSE.$4"
}

# rdb_text: compiles data/rdb_text.c (R .rdb -> text) into $work once
rdb_text() {
    if [ ! -x "$work/rdb_text" ]; then
        ${CC:-cc} -O2 -o "$work/rdb_text" "$here/rdb_text.c" -lz 2>"$work/cc.err" || {
            echo "fetch_debian.sh: books: cannot compile data/rdb_text.c with ${CC:-cc} and zlib:" >&2
            sed 's/^/  /' "$work/cc.err" >&2
            echo "  (apt-get install gcc zlib1g-dev, or set CC)" >&2
            exit 1
        }
    fi
    "$work/rdb_text" "$@"
}

# books_from_rdb PKG NAME...: the I-th NAME is record I of PKG's data/Rdata.rdb (in file
# order, the alphabetical order of the object names in its .rdx), written to books/NAME.txt
books_from_rdb() {
    pkg=$1; shift
    unpack "$pkg"
    i=0
    for name in "$@"; do
        rdb_text "$work/root/usr/lib/R/site-library/${pkg#r-cran-}/data/Rdata.rdb" $i \
            > "$dest/books/$name.txt"
        i=$((i + 1))
    done
    cp "$work/$pkg.copyright" "$dest/books/LICENSE.$pkg"
}

for set in $sets; do
    case $set in
    apes)
        unpack paleomix
        src=$work/root/usr/lib/python3/dist-packages/paleomix/resources/examples/phylo_pipeline/alignment/prefixes
        for f in bonobo chimpanzee gorilla rCRS sumatran_orangutan white_handed_gibbon; do
            place "$src/$f.fasta" "apes/$f.fasta" apes paleomix
            printf '%s.fasta\t%s\n' "$f" "$(echo $f | sed 's/rCRS/human/')"
        done > "$work/labels.tsv"
        cp "$work/labels.tsv" "$dest/apes/labels.tsv" ;;
    bacteria)
        unpack ragout-examples
        for f in "$work"/root/usr/share/doc/ragout/examples/*/references/*.fasta.gz; do
            species=$(basename "$(dirname "$(dirname "$f")")")
            place "$f" "bacteria/$species/$(basename "$f")" bacteria ragout-examples
        done ;;
    digits)
        unpack asterisk-core-sounds-en-wav
        unpack saytime
        for d in 0 1 2 3 4 5 6 7 8 9; do
            place "$work/root/usr/share/asterisk/sounds/en_US_f_Allison/digits/$d.wav" \
                "digits/$d/allison.wav" digits asterisk-core-sounds-en-wav
            place "$work/root/usr/share/saytime/$d.au" "digits/$d/saytime.ul" digits saytime
        done ;;
    books)
        mkdir -p "$dest/books"
        books_from_rdb r-cran-janeaustenr austen-emma austen-mansfield-park \
            austen-northanger-abbey austen-persuasion austen-pride-and-prejudice \
            austen-sense-and-sensibility
        # Moby Dick is one string, Gutenberg's file: drop the CRs, Gutenberg's header (from
        # the byte-order mark to its "*** START OF" line) and its closing notice and licence
        books_from_rdb r-cran-tokenizers moby-dick.gutenberg
        LC_ALL=C sed -e 's/\r$//' -e '1,/^\*\*\* START OF/d' \
            -e "/^End of Project Gutenberg's/,\$d" "$dest/books/moby-dick.gutenberg.txt" \
            > "$dest/books/moby-dick.txt"
        rm "$dest/books/moby-dick.gutenberg.txt"
        unpack bible-kjv-text
        unpack bible-kjv
        # -l: line width, wide enough for one verse a line; -p: the data's directory
        "$work/root/usr/bin/bible" -l100000 -p "$work/root/usr/lib" 'gen1:1-rev22:21' \
            < /dev/null > "$dest/books/kjv.txt" 2>"$work/bible.err" || {
            echo "fetch_debian.sh: books: bible-kjv's bible program failed:" >&2
            sed 's/^/  /' "$work/bible.err" >&2
            exit 1
        }
        cp "$work/bible-kjv-text.copyright" "$dest/books/LICENSE.bible-kjv-text"
        cp "$work/bible-kjv.copyright" "$dest/books/LICENSE.bible-kjv" ;;
    esac
    grep " $set/" "$here/debian.sha256" | (cd "$dest" && sha256sum --quiet -c -) || {
        echo "fetch_debian.sh: $set: checksums differ from data/debian.sha256 (a new package version?)" >&2
        exit 1
    }
    echo "fetch_debian.sh: $set: $(grep -c " $set/" "$here/debian.sha256") files in $dest/$set, checksums good"
done
