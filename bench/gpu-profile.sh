#!/bin/sh
# bench/gpu-profile.sh — where the GPU time of a program goes, kernel by kernel: runs it under
# Nsight Compute with one metric (gpu__time_duration, clocks left alone), then sums the
# durations per kernel name and prints the names with their share of the total, largest first.
#
#   sh bench/gpu-profile.sh NAME COMMAND...      (on the GPU machine; writes $OUT/NAME.csv
#                                                  and $OUT/NAME.txt, prints the table)
# ncu runs the kernels one at a time (caches left warm: --cache-control none), so a duration is
# that of the kernel alone and launch gaps are not seen: use it for shares, the benches for totals.
set -u
[ $# -ge 2 ] || { echo "usage: gpu-profile.sh NAME COMMAND..." >&2; exit 2; }
name=$1; shift
out=${OUT:-/tmp/out}
mkdir -p "$out"
timeout 400 ncu --clock-control none --cache-control none --metrics gpu__time_duration.sum --csv \
    --print-units base \
    "$@" > "$out/$name.csv" 2> "$out/$name.err"
echo "ncu rc=$? ($(grep -c gpu__time_duration "$out/$name.csv") kernels)"
python3 - "$out/$name.csv" <<'PY' | tee "$out/$name.txt"
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
head = rows[0]
k, v = head.index("Kernel Name"), head.index("Metric Value")
total, calls = collections.Counter(), collections.Counter()
for r in rows[1:]:
    if r[head.index("Metric Name")] != "gpu__time_duration.sum":
        continue
    name = r[k].split("(")[0][:70]
    total[name] += float(r[v].replace(",", "")) / 1e3   # ns -> us
    calls[name] += 1
s = sum(total.values())
print(f"{'kernel':70s} {'calls':>6s} {'us':>10s} {'share':>6s}")
for n, t in total.most_common(25):
    print(f"{n:70s} {calls[n]:6d} {t:10.1f} {100 * t / s:5.1f}%")
print(f"{'all':70s} {sum(calls.values()):6d} {s:10.1f}")
PY
