#!/bin/sh
# conform.sh: run `snnctl conform` over the ONNX backend tests shipped by
# libonnx-testdata (node, pytorch-converted, pytorch-operator). Every test
# must PASS or SKIP (op, data type or shape out of scope); any FAIL, or a
# crash of snnctl, makes this script exit nonzero.
#
#   BUILD=build-san tests/conform.sh        (SNNCTL=path overrides the binary)
set -u
BUILD=${BUILD:-build}
SNNCTL=${SNNCTL:-$BUILD/snnctl}
DATA=${ONNX_TESTDATA:-/usr/share/libonnx-testdata/data}

if [ ! -x "$SNNCTL" ]; then
    echo "conform.sh: $SNNCTL not built" >&2
    exit 2
fi
if [ ! -d "$DATA/node" ]; then
    echo "conform.sh: $DATA missing (apt-get install libonnx-testdata)" >&2
    exit 2
fi
set --
for suite in node pytorch-converted pytorch-operator; do
    for d in "$DATA/$suite"/*/; do
        [ -f "$d/model.onnx" ] && set -- "$@" "${d%/}"
    done
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
"$SNNCTL" conform "$@" >"$out"
rc=$?
grep '^FAIL' "$out"
tail -n 1 "$out"
if [ $rc -ne 0 ] || grep -q '^FAIL' "$out"; then
    echo "conform.sh: FAILED (snnctl exit $rc)" >&2
    exit 1
fi
tail -n 1 "$out" | grep -q ' 0 failed' || { echo "conform.sh: no summary" >&2; exit 1; }
exit 0
