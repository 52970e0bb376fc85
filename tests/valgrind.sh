#!/bin/sh
# valgrind.sh — the checkpoint tests again under valgrind's memcheck: any invalid read or
# write, use of uninitialised memory or definite leak fails. A TAP test run by `make check`
# (which sets MK_BUILDDIR and MK_GOLDEN); by hand: MK_BUILDDIR=. sh tests/valgrind.sh from
# the build directory. The fuzz loop of test_safetensors runs 300 mutations here instead of
# 3000 to keep the run short. Each program's output is kept in tests/valgrind-NAME.log.
builddir=${MK_BUILDDIR:-.}
if ! command -v valgrind >/dev/null 2>&1; then
    echo "1..0 # SKIP valgrind not installed"
    exit 0
fi
programs="test_config test_safetensors test_checkpoint"
echo "1..3"
n=0
for p in $programs; do
    n=$((n + 1))
    log=$builddir/tests/valgrind-$p.log
    if MK_FUZZ_ITERS=300 "$builddir/libtool" --mode=execute valgrind --quiet \
        --suppressions="${MK_SRCDIR:-.}/tests/valgrind.supp" --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
        "$builddir/tests/$p" >"$log" 2>&1 && ! grep -q '^not ok' "$log"; then
        echo "ok $n - $p under valgrind"
    else
        echo "not ok $n - $p under valgrind (see $log)"
        tail -n 30 "$log" | sed 's/^/# /'
    fi
done
exit 0
