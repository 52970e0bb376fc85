# tap.sh — TAP helpers for the shell tests, sourced first: `. "${MK_SRCDIR:-.}/tests/tap.sh"`.
# It sets MK (the mambakit program of the build tree), SRC (the source tree) and T (a scratch
# directory, removed on exit), then provides
#       check NAME COMMAND...        "ok N - NAME" when COMMAND succeeds (its stderr is shown
#                                    as diagnostics when it fails)
#       status_is CODE PATTERN CMD...  succeeds when CMD exits with CODE and its stderr
#                                    matches PATTERN (use it under check)
# The caller prints the plan and ends with `[ "$failed" = 0 ]`.
MK=${MK_BUILDDIR:-.}/cli/mambakit
SRC=${MK_SRCDIR:-.}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
n=0 failed=0
check() {
    name=$1; shift
    n=$((n + 1))
    if "$@" >"$T/out" 2>"$T/err"; then echo "ok $n - $name"; else
        failed=$((failed + 1)); echo "not ok $n - $name"; sed 's/^/# /' "$T/err" | head -5; fi
}
status_is() {
    code=$1 pat=$2; shift 2
    "$@" >"$T/out" 2>"$T/err"; rc=$?
    [ "$rc" = "$code" ] && grep -q -- "$pat" "$T/err"
}
