#!/bin/sh
# test_cli_modalities.sh — `mambakit plugins` and `mambakit tokenizer` as a user runs them:
# the listing with origins and shadowing, training a BPE tokenizer.json, encode/decode round
# trips of UTF-8 text, and errors with the documented exit codes (1 failure, 2 bad usage).
set -u
. "${MK_SRCDIR:-.}/tests/tap.sh"
echo "1..9"
check "plugins lists the four built-in modalities" sh -c \
    "env -u MAMBAKIT_PLUGIN_PATH '$MK' plugins | grep -c ' built-in ' | grep -qx 4"
check "plugins shows modules of \$MAMBAKIT_PLUGIN_PATH first and the built-in as shadowed" sh -c \
    "MAMBAKIT_PLUGIN_PATH='${MK_BUILDDIR:-.}/plugins/.libs' '$MK' plugins --paths > '$T/l' &&
     grep -q '^dna .*MAMBAKIT_PLUGIN_PATH' '$T/l' && grep -q 'file: .*dna.so' '$T/l' &&
     grep -q '^dna .*built-in.*(shadowed)' '$T/l'"
check "plugins --help" sh -c "'$MK' plugins --help | grep -q Usage"
cat "$SRC"/tests/data/LICENSES "$SRC"/tests/data/text/make_hf_fixture.py > "$T/corpus.txt"
check "tokenizer train writes a tokenizer.json of 400 tokens" "$MK" tokenizer train \
    --vocab-size 400 --out "$T/tok.json" "$T/corpus.txt"
text='Permission is hereby granted — naïve café 東京 🙂'
check "tokenizer encode | decode gives the text back" sh -c \
    "'$MK' tokenizer encode --tokenizer '$T/tok.json' --text '$text' > '$T/ids' &&
     '$MK' tokenizer decode --tokenizer '$T/tok.json' - < '$T/ids' > '$T/back' &&
     printf '%s' '$text' | cmp - '$T/back'"
check "BPE ids are fewer than the bytes" sh -c \
    "test \$(tr ',' '\n' < '$T/ids' | wc -l) -lt \$(printf '%s' '$text' | wc -c)"
n=$((n + 1)); if status_is 1 "outside the vocabulary" "$MK" tokenizer decode --tokenizer "$T/tok.json" 99999
then echo "ok $n - decode of an unknown id fails with exit 1"; else failed=$((failed + 1)); echo "not ok $n - decode of an unknown id"; fi
n=$((n + 1)); if status_is 2 "say train, encode or decode" "$MK" tokenizer
then echo "ok $n - tokenizer without an action is a usage error (exit 2)"; else failed=$((failed + 1)); echo "not ok $n - usage error"; fi
n=$((n + 1)); if status_is 1 "cannot open" "$MK" tokenizer encode --tokenizer "$T/none.json" --text x
then echo "ok $n - a missing tokenizer.json fails with exit 1"; else failed=$((failed + 1)); echo "not ok $n - missing tokenizer"; fi
[ "$failed" = 0 ]
