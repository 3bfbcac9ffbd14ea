#!/bin/sh
# faults.sh: fault injection at load-test scale (the integration tests in
# tests/integration/test_hardening_faults.c do the same with a handful of
# requests). Loopback only, every phase bounded in time. Markdown on
# stdout, progress on stderr, exit 1 when a check fails.
#
#   tools/faults.sh                     FAULT_SECONDS=20 FAULT_CONC=16
#
# Phases, each against one daemon serving a copy of models/fashion-mnist:
#   A. reloads under load: while FAULT_CONC connections classify, the model
#      file is replaced 8 times by a corrupt one (garbage, truncated,
#      one byte short) and reloaded (POST /v1/models/{m}/load, or SIGHUP),
#      and 8 times by the good one and reloaded: every request must be 200.
#   B. disconnects under load: 200 requests of 8 images x 1000 steps
#      abandoned after 50-300 ms while the load runs: afterwards the
#      in-flight gauge and the queue are back to 0, open fds and threads
#      back to their value before, and the load saw only 200s.
#   C. SIGTERM under load: FAULT_CONC*2 connections, SIGTERM after 3 s:
#      every answer is 200 or 503 with Retry-After, the only transport
#      errors are refused connections after the listener closed (no reset
#      or empty reply: in-flight work completes), exit status 0.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SECS=${FAULT_SECONDS:-20}
CONC=${FAULT_CONC:-16}
MODEL=models/fashion-mnist
NAME=fashion-mnist
LOADGEN=$BUILD/loadgen
make --no-print-directory -s BUILD="$BUILD" "$LOADGEN" >&2
tmp=$(mktemp -d /tmp/snnd-faults-XXXXXX)
pid="" lg=""
cleanup() {
    [ -z "$lg" ] || kill "$lg" 2>/dev/null || true
    if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
verdict=PASS
fail() { echo "faults: FAIL: $*" >&2; verdict=FAIL; }

mkdir -p "$tmp/repo"
cp -r "$MODEL" "$tmp/repo/$NAME"
cp "$MODEL/model.onnx" "$tmp/good.onnx"
make --no-print-directory -s BUILD="$BUILD" "$BUILD/mkpng_fixtures" >&2
"$BUILD/mkpng_fixtures" -1 28 28 1 "$tmp/img.png"
b64=$(base64 -w0 "$tmp/img.png")
printf '{"steps":1000,"images":["%s","%s","%s","%s","%s","%s","%s","%s"]}' \
    "$b64" "$b64" "$b64" "$b64" "$b64" "$b64" "$b64" "$b64" >"$tmp/slow.json"

. tools/snnd-lib.sh
nstart=0
start() {   # start [FLAGS...]: each daemon logs to its own file
    nstart=$((nstart + 1))
    snnd_start "$tmp/snnd.$nstart.log" --models "$tmp/repo" --default-model "$NAME" --log-level warn "$@" || exit 1
}
js() { sed -nE "s/.*\"$2\": ([-0-9.e+]+).*/\1/p" "$1" | head -n 1; }
statuses() { sed -nE 's/.*"status": \{([^}]*)\}.*/\1/p' "$1" | tr -d '" '; }
transport() { sed -nE 's/.*"transport": \{([^}]*)\}.*/\1/p' "$1" | tr -d '"'; }
metric() { curl -fs "$B/metrics" | awk -v n="$1" '$1 == n || index($1, n "{") == 1 { s += $2 } END { print s + 0 }'; }
load() {   # conc secs out
    "$LOADGEN" --url "$B/classify" --body "$tmp/img.png" --ctype image/png -c "$1" -d "$2" --quiet \
        --metrics "$B/metrics" >"$3" &
    lg=$!
}

# ---------------------------------------------------------------- A
echo "faults: A. reloads under load (${SECS}s, $CONC connections)" >&2
start --queue-size 256
load "$CONC" "$SECS" "$tmp/a.json"
sleep 1
bad_ok=0 good_ok=0
for i in 1 2 3 4 5 6 7 8; do
    case $((i % 3)) in
    0) head -c 5000 "$tmp/good.onnx" >"$tmp/repo/$NAME/model.onnx" ;;
    1) echo "definitely not onnx" >"$tmp/repo/$NAME/model.onnx" ;;
    2) sz=$(wc -c <"$tmp/good.onnx"); head -c $((sz - 1)) "$tmp/good.onnx" >"$tmp/repo/$NAME/model.onnx" ;;
    esac
    if [ $i = 4 ]; then
        kill -HUP "$pid"; sleep 0.5; bad_ok=$((bad_ok + 1))
    else
        s=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$B/v1/models/$NAME/load")
        [ "$s" -ge 400 ] && bad_ok=$((bad_ok + 1))
    fi
    sleep 0.3
    cp "$tmp/good.onnx" "$tmp/repo/$NAME/model.onnx"
    s=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$B/v1/models/$NAME/load")
    [ "$s" = 200 ] && good_ok=$((good_ok + 1))
    sleep 0.3
done
wait "$lg" || true
lg=""
a_st=$(statuses "$tmp/a.json")
[ "$bad_ok" = 8 ] || fail "A: $bad_ok of 8 corrupt reloads refused"
[ "$good_ok" = 8 ] || fail "A: $good_ok of 8 good reloads succeeded"
echo "$a_st" | tr ',' '\n' | grep -vqE '^200:' && fail "A: statuses $a_st"
[ "$(js "$tmp/a.json" transport_errors)" = 0 ] || fail "A: transport errors: $(transport "$tmp/a.json")"

# ---------------------------------------------------------------- B
echo "faults: B. 200 abandoned requests under load" >&2
fds0=$(ls "/proc/$pid/fd" | wc -l)
thr0=$(sed -nE 's/^Threads:[[:space:]]+([0-9]+)/\1/p' "/proc/$pid/status")
load "$CONC" "$SECS" "$tmp/b.json"
n=0
t_end=$(( $(date +%s) + SECS - 2 ))
while [ $n -lt 200 ] && [ "$(date +%s)" -lt "$t_end" ]; do
    for k in 1 2 3 4 5 6 7 8 9 10; do
        ms=$(( 50 + (n * 37) % 250 ))
        curl -s -o /dev/null -m "0.$(printf '%03d' $ms)" -H 'Content-Type: application/json' \
            --data-binary "@$tmp/slow.json" "$B/classify" &
        n=$((n + 1))
    done
    wait_pids=$(jobs -p | grep -v "^$lg\$" || true)
    for p in $wait_pids; do [ "$p" = "$lg" ] || [ "$p" = "$pid" ] || wait "$p" 2>/dev/null || true; done
done
wait "$lg" || true
lg=""
settled=no
for i in $(seq 1 50); do
    if [ "$(metric snnd_inflight_requests)" = 0 ] && [ "$(metric snnd_queue_depth)" = 0 ]; then settled=yes; break; fi
    sleep 0.1
done
sleep 1
fds1=$(ls "/proc/$pid/fd" | wc -l)
thr1=$(sed -nE 's/^Threads:[[:space:]]+([0-9]+)/\1/p' "/proc/$pid/status")
c499=$(metric 'snnd_requests_total{model="'$NAME'",code="499"}')
b_st=$(statuses "$tmp/b.json")
[ "$settled" = yes ] || fail "B: in-flight/queue not back to 0"
[ "$fds1" -le "$fds0" ] || fail "B: fds $fds0 -> $fds1"
[ "$thr1" -le "$thr0" ] || fail "B: threads $thr0 -> $thr1"
echo "$b_st" | tr ',' '\n' | grep -vqE '^200:' && fail "B: statuses $b_st"
kill -TERM "$pid"; wait "$pid" || fail "B: snnd exit status $?"
pid=""

# ---------------------------------------------------------------- C
echo "faults: C. SIGTERM under load ($((CONC * 2)) connections)" >&2
start --drain-timeout-ms 30000 --queue-size 64
load $((CONC * 2)) 12 "$tmp/c.json"
sleep 3
inflight=$(metric snnd_inflight_requests)
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""
wait "$lg" || true
lg=""
c_st=$(statuses "$tmp/c.json")
c_tr=$(transport "$tmp/c.json")
echo "$c_st" | tr ',' '\n' | grep -vqE '^(200|503|0):' && fail "C: statuses $c_st"
[ "$(js "$tmp/c.json" rejected_503)" = "$(js "$tmp/c.json" retry_after_503)" ] || fail "C: 503 without Retry-After"
echo "$c_tr" | tr ',' '\n' | grep -v '^$' | grep -vq "^Couldn't connect to server:" && fail "C: transport errors other than refused: $c_tr"
[ "$rc" = 0 ] || fail "C: exit status $rc"

echo "## Faults: $verdict"
echo
echo "\`FAULT_SECONDS=$SECS FAULT_CONC=$CONC tools/faults.sh\` on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $NAME."
echo
echo "| phase | load statuses | transport errors | checks |"
echo "|---|---|---|---|"
echo "| A. 8 corrupt + 8 good reloads under load | $a_st | $(transport "$tmp/a.json") | corrupt refused $bad_ok/8, good loaded $good_ok/8 |"
echo "| B. $n requests abandoned after 50-300 ms | $b_st | $(transport "$tmp/b.json") | gauges back to 0: $settled; 499 counted $c499; fds $fds0 -> $fds1; threads $thr0 -> $thr1 |"
echo "| C. SIGTERM with $inflight requests in flight | $c_st | $c_tr | exit status $rc |"
[ "$verdict" = PASS ]
