#!/bin/sh
# bench_daemon.sh: snnd end to end, for `make bench` (tools/bench.sh appends
# what this prints to docs/benchmarks.md). Markdown on stdout, progress on
# stderr.
#
#   BUILD=build tools/bench_daemon.sh
#   BENCH_DAEMON_SECONDS=10 BENCH_DAEMON_MODEL=models/fashion-mnist tools/bench_daemon.sh
#
# Measures, on one daemon started here on 127.0.0.1 (a free port) with the model's default steps:
#   1. single-request latency (one connection, back to back) next to the
#      engine's own compute time for the same request (compute_ms in the
#      answer) and the queue time (queue_ms);
#   2. throughput at concurrency 1, 8 and 32 (tools/loadgen.c, closed loop)
#      against the engine's batch throughput on the same model and steps
#      (snnctl eval --json images_per_second, both cores, no daemon).
# The model is models/cifar10 when present, else models/fashion-mnist; the
# request body is the first test image of its dataset as a PNG.
#
# With --load-test it runs the load test of issue 7 instead (recorded in
# docs/load.md): concurrency LOAD_LEVELS ("1 8 32 64 256") for
# LOAD_SECONDS (60) each against one daemon (default queue-size 64,
# max-connections 512 and no per-address limit (every client is 127.0.0.1)
# so that the load generator, not a connection cap,
# is what pushes the queue), scraping /metrics every second; per level:
# statuses, 503s with Retry-After, transport errors, p50/p90/p99 latency,
# throughput, the largest queue depth and in-flight count seen, and whether
# the daemon is still alive. Exit 1 when a status other than 200/503 is
# seen, a 503 lacks Retry-After, the queue depth passes queue-size or the
# daemon dies. LOAD_HONOR_RETRY_AFTER=1 makes rejected connections wait
# the Retry-After they were given (polite clients) instead of retrying at
# once (the default, the worst case).
#
#   LOAD_SECONDS=60 tools/bench_daemon.sh --load-test
set -eu
MODE=bench
[ "${1:-}" = --load-test ] && MODE=load
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SECS=${BENCH_DAEMON_SECONDS:-10}
SHARED=${SNN_SHARED:-../shared}
LOADGEN=$BUILD/loadgen

if [ -n "${BENCH_DAEMON_MODEL:-}" ]; then MODEL=$BENCH_DAEMON_MODEL
elif [ -f models/cifar10/model.onnx ]; then MODEL=models/cifar10
else MODEL=models/fashion-mnist; fi
NAME=$(basename "$MODEL")
case "$NAME" in
cifar10*) DS="cifar10:$SHARED/datasets/cifar10" ;;
*) DS="fashion-mnist:/usr/share/datasets/fashion-mnist" ;;
esac

tmp=$(mktemp -d /tmp/snnd-bench-XXXXXX)
pid=""
cleanup() {
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

[ -x "$BUILD/snnd" ] || { echo "bench_daemon: $BUILD/snnd missing (make)" >&2; exit 1; }
make --no-print-directory -s BUILD="$BUILD" "$LOADGEN" >&2

# The first test image of the model's dataset as a PNG: web/samples/ holds
# it (tools/web-samples.c writes the samples in test-split order).
case "$NAME" in
cifar10*) cp web/samples/cifar10-0.png "$tmp/img.png" ;;
*) cp web/samples/fashion-mnist-0.png "$tmp/img.png" ;;
esac

mkdir -p "$tmp/repo"
ln -s "$PWD/$MODEL" "$tmp/repo/$NAME"
echo "bench_daemon: starting snnd ($NAME)" >&2
QUEUE=${LOAD_QUEUE_SIZE:-64}
if [ "$MODE" = load ]; then
    set -- --queue-size "$QUEUE" --max-connections 512 --max-connections-per-ip 0
else
    set -- --queue-size 256
fi
. tools/snnd-lib.sh
snnd_start "$tmp/snnd.log" --models "$tmp/repo" --default-model "$NAME" --log-level warn "$@" || exit 1
URL=http://127.0.0.1:$port/classify
steps=$(curl -fs "http://127.0.0.1:$port/v1/models/$NAME" | sed -nE 's/.*"steps": ?([0-9]+).*/\1/p' | head -n 1)
steps=${steps:-30}

jget() { sed -nE "s/.*\"$2\": \{?([-0-9.e+]+|nan|null).*/\1/p" "$1" | head -n 1; }
lat() { sed -nE "s/.*\"$2\": ([-0-9.e+]+|nan).*/\1/p" "$1" | head -n 1; }

# warm-up: engines and buffers of every worker
"$LOADGEN" --url "$URL" --body "$tmp/img.png" --ctype image/png -c 4 -d 2 --quiet >/dev/null

if [ "$MODE" = load ]; then
    SECS=${LOAD_SECONDS:-60}
    LEVELS=${LOAD_LEVELS:-1 8 32 64 256}
    POLITE=""
    [ "${LOAD_HONOR_RETRY_AFTER:-0}" = 1 ] && POLITE=--honor-retry-after
    verdict=PASS
    rows=""
    for c in $LEVELS; do
        echo "load: concurrency $c for ${SECS}s" >&2
        # shellcheck disable=SC2086
        "$LOADGEN" --url "$URL" --body "$tmp/img.png" --ctype image/png -c "$c" -d "$SECS" --quiet \
            --metrics "http://127.0.0.1:$port/metrics" $POLITE >"$tmp/l$c.json"
        f=$tmp/l$c.json
        alive=yes
        kill -0 "$pid" 2>/dev/null || { alive=no; verdict=FAIL; }
        st=$(sed -nE 's/.*"status": \{([^}]*)\}.*/\1/p' "$f" | tr -d '" ')
        other=$(echo "$st" | tr ',' '\n' | grep -vcE '^(200|503):' || true)
        n503=$(jget "$f" rejected_503); ra=$(jget "$f" retry_after_503); te=$(jget "$f" transport_errors)
        mq=$(jget "$f" max_queue_depth); mi=$(jget "$f" max_inflight)
        [ "$other" = 0 ] && [ "$n503" = "$ra" ] && [ "$te" = 0 ] || verdict=FAIL
        awk -v q="$mq" -v l="$QUEUE" 'BEGIN { exit !(q <= l) }' || verdict=FAIL
        rows="$rows| $c | $(jget "$f" requests) | $st | $ra/$n503 | $te | $(jget "$f" ok_rps) | $(jget "$f" throughput_rps) | $(lat "$f" p50) | $(lat "$f" p90) | $(lat "$f" p99) | $mq | $mi | $alive |
"
    done
    kill -TERM "$pid"
    rc=0
    wait "$pid" || rc=$?
    pid=""
    [ "$rc" = 0 ] || verdict=FAIL
    echo "## Load test: $verdict"
    echo
    echo "\`LOAD_SECONDS=$SECS LOAD_LEVELS=\"$LEVELS\" tools/bench_daemon.sh --load-test\` on"
    echo "$(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores: snnd serving $MODEL ($steps steps) on 127.0.0.1 with"
    echo "queue-size $QUEUE, max-connections 512, default workers/batching; tools/loadgen.c closed loop"
    if [ -n "$POLITE" ]; then
        echo "(each connection sends its next PNG as soon as the previous answer arrives; after a"
        echo "503 it waits Retry-After seconds first: LOAD_HONOR_RETRY_AFTER=1)."
    else
        echo "(each connection sends its next PNG as soon as the previous answer arrives, also"
        echo "right after a 503: the worst case, clients that ignore Retry-After)."
    fi
    echo
    echo "| conc. | requests | statuses | 503 with Retry-After | transport errors | ok/s | answers/s | p50 ms | p90 ms | p99 ms | max queue depth | max in flight | alive |"
    echo "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    printf "%s" "$rows"
    echo
    echo "snnd exit status after SIGTERM: $rc."
    [ "$verdict" = PASS ]
    exit
fi

echo "bench_daemon: single request latency (${SECS}s, 1 connection)" >&2
"$LOADGEN" --url "$URL" --body "$tmp/img.png" --ctype image/png -c 1 -d "$SECS" --quiet >"$tmp/c1.json"
for c in 8 32; do
    echo "bench_daemon: concurrency $c (${SECS}s)" >&2
    "$LOADGEN" --url "$URL" --body "$tmp/img.png" --ctype image/png -c "$c" -d "$SECS" --quiet \
        --metrics "http://127.0.0.1:$port/metrics" >"$tmp/c$c.json"
done
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=""

echo "bench_daemon: engine batch throughput (snnctl eval, $steps steps)" >&2
eng_ips=""
if "$BUILD/snnctl" eval "$MODEL" --dataset "$DS" --split test --limit 1000 --steps "$steps" \
    --no-ann --json >"$tmp/eval.json" 2>"$tmp/eval.err"; then
    eng_ips=$(sed -nE 's/^ *"images_per_second": ([-0-9.e+]+),?$/\1/p' "$tmp/eval.json" | head -n 1)
else
    echo "bench_daemon: snnctl eval failed: $(tail -n 1 "$tmp/eval.err")" >&2
fi

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 > 0) printf "%.2f", a / b; else print "n/a" }'; }
p50=$(lat "$tmp/c1.json" p50)
p99=$(lat "$tmp/c1.json" p99)
cm=$(jget "$tmp/c1.json" compute_ms_mean)
qm=$(jget "$tmp/c1.json" queue_ms_mean)

echo "## Daemon end to end"
echo
echo "Generated by tools/bench_daemon.sh on $(date -u +%Y-%m-%d), $(nproc) cores: snnd on"
echo "127.0.0.1 serving $MODEL ($steps steps, default conversion, max-batch 8),"
echo "one ${SECS}s closed-loop run per row with tools/loadgen.c (libcurl multi, keep-alive),"
echo "body: the first test image of the model's dataset as a PNG."
echo
echo "| single request (1 connection) | ms |"
echo "|---|---:|"
echo "| end-to-end latency p50 | $p50 |"
echo "| end-to-end latency p99 | $p99 |"
echo "| engine compute (compute_ms, mean) | $cm |"
echo "| queue wait (queue_ms, mean) | $qm |"
echo "| overhead p50 - compute (HTTP, PNG decode, preprocessing, render) | $(awk -v a="$p50" -v b="$cm" 'BEGIN{printf "%.2f", a-b}') |"
echo
echo "Target (issue 15): overhead at most 1 ms at p50: $(awk -v a="$p50" -v b="$cm" 'BEGIN{ if (a == "" || b == "") print "n/a"; else if (a - b <= 1.0) print "met"; else print "not met" }')."
echo
echo "| concurrency | requests/s | p50 ms | p99 ms | statuses | max queue depth | ratio to engine batch throughput |"
echo "|---:|---:|---:|---:|---|---:|---:|"
for c in 1 8 32; do
    f=$tmp/c$c.json
    rps=$(jget "$f" ok_rps)
    st=$(sed -nE 's/.*"status": \{([^}]*)\}.*/\1/p' "$f" | tr -d '"' | tr -d ' ')
    mq=$(jget "$f" max_queue_depth)
    [ "$c" = 1 ] && mq="-"
    echo "| $c | $rps | $(lat "$f" p50) | $(lat "$f" p99) | $st | $mq | $(ratio "$rps" "$eng_ips") |"
done
echo
echo "Engine batch throughput (snnctl eval, same model and steps, 1000 test images, no"
echo "daemon): ${eng_ips:-n/a} images/s. A ratio near 1 at concurrency 8-32 means the"
echo "daemon's dynamic batching keeps the engine as busy as an offline batch run."
echo
echo "Reproduce: \`BENCH_DAEMON_SECONDS=$SECS${BENCH_DAEMON_MODEL:+ BENCH_DAEMON_MODEL=$BENCH_DAEMON_MODEL} tools/bench_daemon.sh\`."
