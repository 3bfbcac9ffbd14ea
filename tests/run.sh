#!/bin/sh
# run.sh: every test suite, in order, with one combined closing line
# "N passed, N failed, N skipped" (the line CI reads). Called by `make test`.
#
#   unit         build/test_unit          library modules (tests/unit)
#   cli          tests/cli/run.sh         snnctl end to end
#   conform      tests/conform.sh         ONNX backend test suite, rate path
#   replay       tests/fuzz/replay.sh     fuzz targets over their corpora and
#                                         tests/regress (no libFuzzer needed)
#   integration  build/test_integration   the real daemon over HTTP (tests/integration)
#   browser      tests/browser/run.sh     the page at / in headless Chromium
#   ecosystem    tests/ecosystem/run.sh   Prometheus scrape, OpenAPI lint and live
#                                         validation, promtool, Dockerfile/compose/k8s
#
# BUILD selects the build folder (build, or build-san for sanitizers); the
# browser and ecosystem suites test deployment, so they run in the plain
# build only.
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/.." || exit 2
export SNN_ROOT="$PWD"
passed=0 failed=0 skipped=0 broken=""
. tests/tally.sh

# suite NAME COMMAND...: runs one suite, shows its output, tallies its
# closing line and its exit status (kept through the pipe in $log.rc).
suite() {
    name=$1
    shift
    echo "=== $name: $*"
    log=$(mktemp)
    { "$@" 2>&1; echo $? >"$log.rc"; } | tee "$log"
    tally "$name" "$log" "$(cat "$log.rc" 2>/dev/null || echo 1)"
    rm -f "$log" "$log.rc"
}

suite unit "$BUILD/test_unit"
suite cli env BUILD="$BUILD" tests/cli/run.sh
suite conform env BUILD="$BUILD" tests/conform.sh
suite replay env BUILD="$BUILD" tests/fuzz/replay.sh
suite integration "$BUILD/test_integration"
if [ "$BUILD" = build ]; then
    suite browser env SNND="$PWD/$BUILD/snnd" tests/browser/run.sh
    suite ecosystem env SNND="$PWD/$BUILD/snnd" tests/ecosystem/run.sh
fi

echo
[ -z "$broken" ] || echo "failing suites:$broken"
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" = 0 ]
