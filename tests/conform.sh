#!/bin/sh
# conform.sh: run `snnctl conform` over the ONNX backend tests shipped by
# libonnx-testdata (node, pytorch-converted, pytorch-operator). Every test
# must PASS or SKIP (op, data type or shape out of scope); any FAIL, or a
# crash of snnctl, makes this script exit nonzero. The set of passing tests
# is pinned in tests/conform.pass ("suite/test", sorted): a pinned test that
# no longer passes (a regression to SKIP) fails, and so does a test that
# newly passes without being pinned (the list stays exact). After a change
# that makes more tests pass, regenerate the list with
#
#   tests/conform.sh --update               (then review and commit the diff)
#
#   BUILD=build-san tests/conform.sh        (SNNCTL=path overrides the binary)
set -u
BUILD=${BUILD:-build}
SNNCTL=${SNNCTL:-$BUILD/snnctl}
DATA=${ONNX_TESTDATA:-/usr/share/libonnx-testdata/data}
cd "$(dirname "$0")/.." || exit 2
PINNED=tests/conform.pass
update=0
[ "${1:-}" = --update ] && update=1

if [ ! -x "$SNNCTL" ]; then
    echo "conform.sh: $SNNCTL not built" >&2
    exit 2
fi
if [ ! -d "$DATA/node" ]; then
    echo "conform.sh: $DATA missing (apt-get install libonnx-testdata)" >&2
    exit 2
fi
out=$(mktemp)
pass=$(mktemp)
trap 'rm -f "$out" "$pass" "$pass.pinned"' EXIT
rc=0
for suite in node pytorch-converted pytorch-operator; do
    set --
    for d in "$DATA/$suite"/*/; do
        [ -f "$d/model.onnx" ] && set -- "$@" "${d%/}"
    done
    [ $# -gt 0 ] || continue
    "$SNNCTL" conform "$@" >"$out.$suite" || rc=$?
    sed -n "s|^PASS \([^ :]*\).*|$suite/\1|p" "$out.$suite" >>"$pass"
    cat "$out.$suite" >>"$out"
    rm -f "$out.$suite"
done
grep '^FAIL' "$out"
np=$(grep -c '^PASS' "$out")
nf=$(grep -c '^FAIL' "$out")
ns=$(grep -c '^SKIP' "$out")
echo "$np passed, $nf failed, $ns skipped"
if [ $rc -ne 0 ] || [ "$nf" != 0 ]; then
    echo "conform.sh: FAILED (snnctl exit $rc)" >&2
    exit 1
fi
LC_ALL=C sort -o "$pass" "$pass"
if [ $update = 1 ]; then
    { echo "# ONNX backend tests that pass (tests/conform.sh); regenerate: tests/conform.sh --update"
      cat "$pass"; } >"$PINNED"
    echo "conform.sh: wrote $PINNED ($np tests)"
    exit 0
fi
grep -v '^#' "$PINNED" 2>/dev/null | LC_ALL=C sort >"$pass.pinned"
lost=$(LC_ALL=C comm -23 "$pass.pinned" "$pass")
new=$(LC_ALL=C comm -13 "$pass.pinned" "$pass")
if [ -n "$lost" ] || [ -n "$new" ]; then
    [ -z "$lost" ] || { echo "conform.sh: pinned in $PINNED but no longer passing:"; echo "$lost" | sed 's/^/  /'; }
    [ -z "$new" ] || { echo "conform.sh: passing but not pinned in $PINNED:"; echo "$new" | sed 's/^/  /'; }
    echo "conform.sh: the passing set changed; if that is intended, run: tests/conform.sh --update"
    echo "$np passed, 1 failed, $ns skipped"
    exit 1
fi
exit 0
