#!/bin/sh
# gpu-synthetic.sh — the synthetic-task accuracy table at the paper's test lengths on the GPU
# machine, in about 7 minutes: bench/synthetic-table.sh for selective copying and induction
# heads, each trained at L = 256 (SC_TRAIN_LEN, IH_TRAIN_LEN; batch 32, lr 1e-3: the
# recipes) for SC_STEPS / IH_STEPS steps or at most SC_SECONDS / IH_SECONDS of wall time (when
# the time is up a checkpoint is saved, as on Ctrl-C), then tested on fresh examples at
# 2^8 .. 2^20 tokens (micro-batch 1 at 2^20, about 6.5 GB). Selective copying: 9000 steps
# (~170 s on an H200: 94.7% at 256); induction heads: 170 s of a 10^6-step schedule. Run from the source tree with a CUDA build of mambakit:
#
#   MAMBAKIT=/path/to/build/cli/mambakit OUT=/some/dir bench/gpu-synthetic.sh
#
# Prints the markdown table (also OUT/table-TASK.md; logs and eval.json under OUT/TASK/).
# Every knob of synthetic-table.sh can be overridden from the environment (a CPU smoke test:
# DEVICE=cpu TRAIN_LEN=32 LENGTHS="32 64" SC_SECONDS=3 IH_SECONDS=3 SETS=model.d_model=16).
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
export OUT="${OUT:-runs/gpu-synthetic}"
export DEVICE="${DEVICE:-cuda}"
given_steps=${STEPS:-}   # STEPS from the environment: both tasks (e.g. a CPU smoke test)
export STEPS="${STEPS:-1000000}"
export TRAIN_EXAMPLES="${TRAIN_EXAMPLES:-262144}"
export LENGTHS="${LENGTHS:-256 1024 4096 16384 65536 262144 1048576}"
export TEST_TOKENS="${TEST_TOKENS:-4194304}"
export MIN_EXAMPLES="${MIN_EXAMPLES:-8}"
export EVAL_TOKENS="${EVAL_TOKENS:-1048576}"
SC_SECONDS=${SC_SECONDS:-300} IH_SECONDS=${IH_SECONDS:-170}
SC_STEPS=${SC_STEPS:-${given_steps:-9000}} IH_STEPS=${IH_STEPS:-$STEPS}
SC_TRAIN_LEN=${SC_TRAIN_LEN:-${TRAIN_LEN:-256}} IH_TRAIN_LEN=${IH_TRAIN_LEN:-${TRAIN_LEN:-256}}
if [ -n "${MAMBAKIT:-}" ]; then export MAMBAKIT; fi
mkdir -p "$OUT"
start=$(date +%s)
STEPS=$SC_STEPS TRAIN_SECONDS=$SC_SECONDS TRAIN_LEN=$SC_TRAIN_LEN \
    "$here/bench/synthetic-table.sh" selective-copying
cp "$OUT/table.md" "$OUT/table-selective-copying.md"
STEPS=$IH_STEPS TRAIN_SECONDS=$IH_SECONDS TRAIN_LEN=$IH_TRAIN_LEN \
    "$here/bench/synthetic-table.sh" induction-heads
cp "$OUT/table.md" "$OUT/table-induction-heads.md"
echo
echo "All synthetic-task rows (device $DEVICE, $(($(date +%s) - start)) s in all):"
cat "$OUT/table-selective-copying.md"
tail -n +3 "$OUT/table-induction-heads.md"
