#!/bin/sh
# replay.sh: every fuzz target of tests/fuzz/ over its seed corpus
# (tests/fuzz/corpus/<target>/) and its regression inputs
# (tests/regress/<target>/), built with the normal compiler by `make`
# ($BUILD/replay/<target>, tests/fuzz/replay.c is their main). Part of
# `make test` (tests/run.sh), so it runs in the plain and sanitizer builds.
# A target with no corpus is a failure: every target has seeds.
#
#   BUILD=build-san tests/fuzz/replay.sh [TARGET...]
set -u
BUILD=${BUILD:-build}
cd "$(dirname "$0")/../.." || exit 2
export SNN_ROOT="$PWD"
passed=0 failed=0
if [ $# -eq 0 ]; then
    for f in tests/fuzz/fuzz_*.c; do
        t=$(basename "$f" .c)
        set -- "$@" "$t"
    done
fi
for t in "$@"; do
    bin=$BUILD/replay/$t
    log=$(mktemp)
    if [ ! -x "$bin" ]; then
        echo "FAIL $t: $bin not built (make $bin)"
        failed=$((failed + 1))
    elif [ ! -d "tests/fuzz/corpus/$t" ]; then
        echo "FAIL $t: no seed corpus in tests/fuzz/corpus/$t"
        failed=$((failed + 1))
    elif ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:allocator_may_return_null=1} \
         "$bin" "tests/fuzz/corpus/$t" "tests/regress/$t" >"$log" 2>&1; then
        echo "PASS $t ($(tail -n 1 "$log"))"
        passed=$((passed + 1))
    else
        echo "FAIL $t: $(grep '^replay: ' "$log" | tail -n 1 | sed 's/^replay: //')"
        grep -v '^replay: ' "$log" | head -n 20 | sed 's/^/  /'
        failed=$((failed + 1))
    fi
    rm -f "$log"
done
echo "$passed passed, $failed failed, 0 skipped"
[ "$failed" = 0 ]
