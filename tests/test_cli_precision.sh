#!/bin/sh
# test_cli_precision.sh — `mambakit generate --precision` (issue 9): decoding from f16 weight
# copies gives the same greedy ids as fp32 (and as transformers) on the golden tiny model, q8
# runs, and a bad or unsupported precision is a clear error with the documented exit code
# (2 bad usage, 1 failure). That the option reaches the model: one embedding weight (the tied
# head) set to 1e6 makes f16 fail (beyond its range) while fp32 and q8 run.
set -u
G=${MK_GOLDEN:-tests/data/golden}/tiny
. "${MK_SRCDIR:-.}/tests/tap.sh"
echo "1..8"
ref_ids=$(sed 's/.*"generate_ids": *\[\[\([0-9, ]*\)\]\].*/\1/' "$G/reference.json" | tr -d ' ')
prompt=$(echo "$ref_ids" | cut -d, -f1-8)
check "generate --help documents --precision" sh -c "'$MK' generate --help | grep -q -- '--precision P'"
check "f16 greedy ids equal fp32's" sh -c \
    "a=\$('$MK' generate --device cpu --model '$G' --prompt-ids $prompt --max-new 16 --ignore-eos --precision fp32); b=\$('$MK' generate --device cpu --model '$G' --prompt-ids $prompt --max-new 16 --ignore-eos --precision f16); test -n \"\$a\" && test \"\$a\" = \"\$b\""
check "f16 greedy ids equal transformers' (16 new tokens)" sh -c \
    "test \"\$('$MK' generate --device cpu --model '$G' --prompt-ids $prompt --max-new 16 --ignore-eos --precision f16)\" = '$(echo "$ref_ids" | cut -d, -f1-24)'"
check "q8 generates the asked number of ids" sh -c \
    "test \"\$('$MK' generate --device cpu --model '$G' --prompt-ids $prompt --max-new 16 --ignore-eos --precision q8 | tr ',' '\n' | wc -l)\" -eq 24"
check "an unknown precision is a usage error naming the option (exit 2)" \
    status_is 2 "precision: 'q4'" "$MK" generate --device cpu --model "$G" --prompt-ids 1 --precision q4
check "bf16 on the CPU is a clear error (exit 1)" \
    status_is 1 "bf16\|BF16\|unsupported\|not supported" "$MK" generate --device cpu --model "$G" --prompt-ids 1 --precision bf16
# a fresh model whose first stored weight (the embedding's, at the data's offset 0) is 1e6
"$MK" init --d-model 32 --n-layer 1 --vocab-size 300 --out "$T/big" >/dev/null 2>&1
f=$T/big/model.safetensors
hdr=$(od -A n -t u8 -N 8 "$f" | tr -d ' ')
printf '\000\044\164\111' | dd of="$f" bs=1 seek=$((8 + hdr)) conv=notrunc 2>/dev/null
check "fp32 and q8 run the model with a weight of 1e6" sh -c \
    "'$MK' generate --device cpu --model '$T/big' --prompt-ids 1,2 --max-new 3 --precision fp32 && '$MK' generate --device cpu --model '$T/big' --prompt-ids 1,2 --max-new 3 --precision q8"
check "f16 is applied: a weight of 1e6 is beyond its range (exit 1)" \
    status_is 1 "beyond f16" "$MK" generate --device cpu --model "$T/big" --prompt-ids 1,2 --max-new 3 --precision f16
[ "$failed" = 0 ]
