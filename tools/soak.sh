#!/bin/sh
# soak.sh: `make soak` (not in CI): snnd under steady load for a long time,
# checking that it holds no more memory, file descriptors or threads at the
# end than after warm-up.
#
#   make soak                                   10 minutes, 8 connections
#   SOAK_SECONDS=1800 SOAK_CONC=16 make soak
#   SOAK_MODEL=models/fashion-mnist SOAK_OUT=/tmp/soak.csv tools/soak.sh
#
# One daemon on 127.0.0.1 (a free port), tools/loadgen.c posting a PNG of
# the model's input size at SOAK_CONC connections for SOAK_SECONDS, plus a
# mix of other traffic every sample period (a streamed request, a v2 infer,
# a bad body, /metrics) so that more than one code path is soaked. Every
# SOAK_PERIOD seconds (10) it samples from /proc/PID: VmRSS, open fds,
# threads. Pass (exit 0):
#   - RSS at the end within SOAK_RSS_PCT (5) percent of RSS at the end of
#     warm-up (SOAK_WARMUP seconds, 60; the last third of the samples are
#     averaged to take out the noise of one sample);
#   - fds and threads after the load stops (sampled once more, 2 s idle)
#     no higher than after warm-up;
#   - only designed statuses (200; 503 with Retry-After), no transport
#     error, daemon alive, and exit 0 on SIGTERM.
# Markdown summary on stdout, samples as CSV in SOAK_OUT (default
# build/soak.csv), progress on stderr.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
SECS=${SOAK_SECONDS:-600}
CONC=${SOAK_CONC:-8}
PERIOD=${SOAK_PERIOD:-10}
WARMUP=${SOAK_WARMUP:-60}
RSS_PCT=${SOAK_RSS_PCT:-5}
OUT=${SOAK_OUT:-$BUILD/soak.csv}
MODEL=${SOAK_MODEL:-models/fashion-mnist}
NAME=$(basename "$MODEL")
LOADGEN=$BUILD/loadgen

[ -x "$BUILD/snnd" ] || { echo "soak: $BUILD/snnd missing (make)" >&2; exit 1; }
make --no-print-directory -s BUILD="$BUILD" "$LOADGEN" >&2
tmp=$(mktemp -d /tmp/snnd-soak-XXXXXX)
pid="" lg=""
cleanup() {
    [ -z "$lg" ] || kill "$lg" 2>/dev/null || true
    if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

mkdir -p "$tmp/repo"
ln -s "$PWD/$MODEL" "$tmp/repo/$NAME"
in=$(sed -nE 's/.*"(channels|height|width)": ([0-9]+).*/\2/p' "$MODEL/config.json" | tr '\n' ' ')
# shellcheck disable=SC2086
set -- $in
make --no-print-directory -s BUILD="$BUILD" "$BUILD/mkpng_fixtures" >&2
"$BUILD/mkpng_fixtures" -1 "${3:-28}" "${2:-28}" "${1:-1}" "$tmp/img.png"
# a v2 request of raw pixels, [1, 2, 2, C] (resized by the daemon)
v2body=$(awk -v c="${1:-1}" 'BEGIN { printf "{\"inputs\":[{\"name\":\"image\",\"shape\":[1,2,2,%d],\"datatype\":\"UINT8\",\"data\":[", c;
                                     for (i = 0; i < 4 * c; i++) printf "%s%d", i ? "," : "", (i * 37) % 256; print "]}]}" }')

. tools/snnd-lib.sh
snnd_start "$tmp/snnd.log" --models "$tmp/repo" --default-model "$NAME" --log-level warn || exit 1

sample() {   # t rss_kb fds threads
    rss=$(sed -nE 's/^VmRSS:[[:space:]]+([0-9]+).*/\1/p' "/proc/$pid/status")
    thr=$(sed -nE 's/^Threads:[[:space:]]+([0-9]+).*/\1/p' "/proc/$pid/status")
    fds=$(ls "/proc/$pid/fd" | wc -l)
    echo "$1,$rss,$fds,$thr"
}

echo "soak: $SECS s at $CONC connections on $NAME, sampling every $PERIOD s" >&2
echo "t_s,rss_kb,fds,threads" >"$OUT"
"$LOADGEN" --url "$B/classify" --body "$tmp/img.png" --ctype image/png -c "$CONC" -d "$SECS" \
    --metrics "$B/metrics" --quiet >"$tmp/load.json" &
lg=$!
t0=$(date +%s)
side_bad=0
while kill -0 "$lg" 2>/dev/null; do
    t=$(( $(date +%s) - t0 ))
    kill -0 "$pid" 2>/dev/null || { echo "soak: snnd died at ${t}s" >&2; cat "$tmp/snnd.log" >&2; exit 1; }
    sample "$t" >>"$OUT"
    # side traffic: SSE stream, v2 infer, a hostile body, metrics
    curl -s -o /dev/null -H 'Accept: text/event-stream' -H 'Content-Type: image/png' \
        --data-binary "@$tmp/img.png" --max-time 30 "$B/classify?steps=10" || side_bad=$((side_bad + 1))
    s=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' --max-time 30 \
        -d "$v2body" \
        "$B/v2/models/$NAME/infer")
    case "$s" in 200|503) ;; *) side_bad=$((side_bad + 1)) ;; esac
    s=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: image/png' --data-binary 'garbage' \
        --max-time 30 "$B/classify")
    [ "$s" = 400 ] || side_bad=$((side_bad + 1))
    curl -s -o /dev/null --max-time 30 "$B/metrics" || side_bad=$((side_bad + 1))
    sleep "$PERIOD"
done
wait "$lg" || true
lg=""
sleep 2
end=$(sample "$(( $(date +%s) - t0 ))")
echo "$end" >>"$OUT"
kill -TERM "$pid"
rc=0
wait "$pid" || rc=$?
pid=""

# Evaluate: warm-up reference = last sample at t <= WARMUP; end = mean of
# the last third of the samples under load.
eval "$(awk -F, -v w="$WARMUP" -v endline="$end" '
    BEGIN { n = 0 }
    NR == 1 { next }
    { t[n] = $1; r[n] = $2; f[n] = $3; th[n] = $4; n++ }
    END {
        n--;   # the last line is the idle sample after the load
        ref = 0
        for (i = 0; i < n; i++) if (t[i] <= w) ref = i
        k = 0; s = 0; for (i = n - int(n / 3); i < n; i++) { s += r[i]; k++ }
        rmax = 0; for (i = ref; i < n; i++) if (r[i] > rmax) rmax = r[i]
        split(endline, e, ",")
        printf "ref_t=%s ref_rss=%s ref_fds=%s ref_thr=%s end_rss=%d max_rss=%s idle_fds=%s idle_thr=%s samples=%d\n",
               t[ref], r[ref], f[ref], th[ref], (k ? s / k : 0), rmax, e[3], e[4], n
    }' "$OUT")"
growth=$(awk -v a="$end_rss" -v b="$ref_rss" 'BEGIN { printf "%.2f", 100 * (a - b) / b }')
lj=$tmp/load.json
js() { sed -nE "s/.*\"$1\": ([-0-9.e+]+).*/\1/p" "$lj" | head -n 1; }
st=$(sed -nE 's/.*"status": \{([^}]*)\}.*/\1/p' "$lj" | tr -d '" ')
n503=$(js rejected_503); ra=$(js retry_after_503); terr=$(js transport_errors)
other=$(echo "$st" | tr ',' '\n' | grep -vcE '^(200|503):' || true)

verdict=PASS
awk -v g="$growth" -v p="$RSS_PCT" 'BEGIN { exit !(g < p) }' || verdict=FAIL
[ "$idle_fds" -le "$ref_fds" ] || verdict=FAIL
[ "$idle_thr" -le "$ref_thr" ] || verdict=FAIL
[ "$other" = 0 ] && [ "$terr" = 0 ] && [ "$n503" = "$ra" ] || verdict=FAIL
[ "$side_bad" = 0 ] || verdict=FAIL
[ "$rc" = 0 ] || verdict=FAIL

echo "## Soak: $verdict"
echo
echo "\`SOAK_SECONDS=$SECS SOAK_CONC=$CONC make soak\` on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores,"
echo "model $NAME, $CONC connections of POST /classify (PNG) plus one SSE request, one v2"
echo "infer, one bad body and one /metrics scrape every $PERIOD s; $samples samples."
echo
echo "| | after warm-up (t=${ref_t}s) | end of load | after load (idle 2 s) |"
echo "|---|---:|---:|---:|"
echo "| RSS KiB | $ref_rss | $end_rss (mean of last third; max $max_rss) | $(echo "$end" | cut -d, -f2) |"
echo "| open fds | $ref_fds | | $idle_fds |"
echo "| threads | $ref_thr | | $idle_thr |"
echo
echo "- RSS growth after warm-up: $growth% (limit $RSS_PCT%)"
echo "- requests: $(js requests) at $(js ok_rps) ok/s; statuses {$st}; 503 with Retry-After: $ra of $n503; transport errors: $terr; side-traffic failures: $side_bad"
echo "- latency ms: p50 $(js p50), p99 $(js p99); max queue depth seen $(js max_queue_depth)"
echo "- snnd exit status after SIGTERM: $rc"
echo "- samples: $OUT"
[ "$verdict" = PASS ]
