#!/bin/sh
# test_synthetic.sh — the synthetic-task recipes as a user runs them: `mambakit check` on both,
# a bad task option refused, bench/synthetic-table.sh at toy sizes (train, then eval at two
# lengths: eval.json has the accuracy and counts one answer per induction-heads example and
# 16 per selective-copying example), and bench/gpu-synthetic.sh on the CPU with a 2-step
# budget (a step budget, not a time limit: the test must not depend on the machine's speed).
set -u
. "${MK_SRCDIR:-.}/tests/tap.sh"
echo "1..8"
cd "$SRC" || exit 1
check "check recipes/selective-copying.yaml" "$MK" check recipes/selective-copying.yaml
check "check recipes/induction-heads.yaml" "$MK" check recipes/induction-heads.yaml
check "a misspelt task is refused with the choices" \
    status_is 1 "selective-copying|induction-heads" \
    "$MK" check recipes/induction-heads.yaml --set data.task=induction
export MAMBAKIT="$MK" DEVICE=cpu OMP_NUM_THREADS=1 TRAIN_LEN=32 TRAIN_EXAMPLES=64 \
    TEST_TOKENS=256 MIN_EXAMPLES=4 SETS="model.d_model=16 task.eval.every=0"
check "synthetic-table.sh trains and tests both tasks at toy sizes" sh -c \
    "OUT='$T/tab' STEPS=10 LENGTHS='32 64' bench/synthetic-table.sh > '$T/table' 2> '$T/log' &&
     grep -c '^| [a-z-]* | 32 | 10 | [0-9]* s | [0-9.]* | [0-9.]* |\$' '$T/table' | grep -qx 2"
field() { sed -n "s/.*\"$2\": \([0-9.e+-]*\).*/\1/p" "$1"; }
ih=$T/tab/induction-heads/eval-64/eval.json sc=$T/tab/selective-copying/eval-64/eval.json
check "induction heads at 64: one answer per example (4 examples)" \
    test "$(field "$ih" answers) $(field "$ih" examples)" = "4 4"
check "selective copying at 64: 16 answers per example" \
    test "$(field "$sc" answers) $(field "$sc" examples)" = "64 4"
check "accuracy and exact match are fractions" awk -v a="$(field "$sc" accuracy)" \
    -v e="$(field "$sc" exact_match)" 'BEGIN { exit !(a >= 0 && a <= 1 && e >= 0 && e <= a) }'
check "gpu-synthetic.sh on the CPU (2 training steps per task)" sh -c \
    "OUT='$T/gpu' STEPS=2 SC_SECONDS=600 IH_SECONDS=600 TRAIN_EXAMPLES=64 LENGTHS='32' EVAL_TOKENS=64 \
     bench/gpu-synthetic.sh > '$T/gpu.out' 2>&1 && grep -q 'All synthetic-task rows' '$T/gpu.out' &&
     test \$(tail -n 2 '$T/gpu.out' | grep -c '^| [a-z-]* | 32 | [1-9][0-9]* |') = 2"
[ "$failed" = 0 ]
