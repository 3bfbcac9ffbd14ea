#!/bin/sh
# repeat-tests.sh: the README's test command N times in a row (default 10)
# with a CPU-bound process running beside it, in a fresh clone of this
# repository's HEAD: a test that depends on how fast the machine computes
# shows up here. One line per run in the summary, exit 1 if any failed.
#
#   tools/repeat-tests.sh [N] [DIR]     DIR: where to clone (default /tmp/snnd-repeat)
#
# The clone sits next to this checkout's ../shared (datasets) by a symlink.
set -u
n=${1:-10}
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${2:-/tmp/snnd-repeat}
rm -rf "$dir" && mkdir -p "$dir" || exit 2
git clone -q "$root" "$dir/snnd" || exit 2
[ -e "$dir/shared" ] || ln -s "$root/../shared" "$dir/shared"
cd "$dir/snnd" || exit 2
sh -c 'while :; do :; done' &
hog=$!
trap 'kill $hog 2>/dev/null' EXIT INT TERM
fails=0
for i in $(seq "$n"); do
    make test > "$dir/run-$i.log" 2>&1
    rc=$?
    [ "$rc" = 0 ] || fails=$((fails + 1))
    echo "run $i of $n: exit $rc, $(tail -n 1 "$dir/run-$i.log") (log $dir/run-$i.log)"
done
echo "$((n - fails)) of $n runs passed at $(git rev-parse --short HEAD)"
[ "$fails" = 0 ]
