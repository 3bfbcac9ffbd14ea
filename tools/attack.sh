#!/bin/sh
# attack.sh: the resource-exhaustion attacks of issue 13 against snnd, each
# against a fresh daemon with DEFAULT settings unless the phase says
# otherwise. Loopback only, every phase bounded in time and in requests.
# Markdown on stdout (one row per phase: what, figure, target, verdict),
# progress on stderr, exit 1 when a target is missed.
#
#   tools/attack.sh [PHASES]        PHASES: images bombs overload slow json jobs
#                                   (default: all, in that order)
#   ATTACK_OVERLOAD_SECONDS=20 ATTACK_SLOW_SECONDS=40
#
#   images   64 concurrent worst-case valid images, twice: 4096x4096 RGBA
#            PNG (the widest decoded form) and 4096x4096 4:4:4 progressive
#            JPEG (coefficient buffers + output): all 200, peak RSS < 1 GiB.
#   bombs    16 concurrent progressive JPEG bombs (4096x4096, 500 scans,
#            130 KB): every one answered within request-timeout-ms (30 s).
#            Then, against a daemon that lets bombs decode in full
#            (--max-image-scans 1000), 16 bombs whose clients leave after
#            1 s: the daemon's CPU time in the 3 s after they left < 0.3 s.
#   overload closed loop on /classify (32x32 PNG, the default model) at 64
#            and at 256 connections, clients ignoring Retry-After
#            (--max-connections 512 --max-connections-per-ip 0: all clients
#            are 127.0.0.1): ok/s at 256 >= 80% of ok/s at 64.
#   slow     300 sockets from 127.0.0.2 trickling a header byte a second
#            (reconnecting when cut) while /healthz is probed from 127.0.0.1
#            on a new connection every 0.2 s: every probe 200, p99 < 100 ms.
#   json     8 concurrent 8 MB {"pixels":[0,0,...]} bodies: all 4xx, peak
#            RSS < 1 GiB.
#   jobs     1024 /v1/jobs of 1000 steps each (queue-size 2048,
#            models/fashion-mnist): those admitted run; RSS after them minus
#            RSS before <= jobs-memory-bytes (64 MiB) + 1024 x 2 KiB + 32 MiB.
set -eu
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PHASES=${*:-images bombs overload slow json jobs}
OSECS=${ATTACK_OVERLOAD_SECONDS:-20}
SSECS=${ATTACK_SLOW_SECONDS:-40}
LOADGEN=$BUILD/loadgen
make --no-print-directory -s BUILD="$BUILD" "$BUILD/snnd" "$LOADGEN" >&2
cc -O2 tools/mkattack.c -o "$BUILD/mkattack" -ljpeg -lpng -lz
tmp=$(mktemp -d /tmp/snnd-attack-XXXXXX)
pid="" bg=""
cleanup() {
    [ -z "$bg" ] || kill "$bg" 2>/dev/null || true
    if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
verdict=PASS
echo "attack: writing the bodies (4096x4096 images, 8 MB JSON)" >&2
"$BUILD/mkattack" "$tmp" 4096 4096 500 8000000
# a 32x32 RGB PNG for the overload phase (the default model's input size)
mkdir -p "$tmp/small" "$tmp/f" && "$BUILD/mkattack" "$tmp/small" 32 32 190 100 && mv "$tmp/small/big.png" "$tmp/c32.png"
"$BUILD/mkattack" "$tmp/f" 28 28 190 100 && mv "$tmp/f/big.png" "$tmp/f28.png"

. tools/snnd-lib.sh
start() { snnd_start "$tmp/snnd.log" --models models --log-level warn "$@" || exit 1; }   # start [FLAGS...]: models/ as repository
stop() { snnd_stop; }
hwm_mib() { awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status"; }
rss_mib() { awk '/VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$pid/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
field() { jq -cr "$2" "$1"; }
row() { echo "| $1 | $2 | $3 | $4 |"; }
check() {   # check NAME OK(0/1)
    if [ "$2" = 1 ]; then echo PASS; else verdict=FAIL; echo "attack: FAIL: $1" >&2; echo FAIL; fi
}
metric() { curl -s "$B/metrics" | awk -v s="$1" '$1 == s {print $2}'; }

echo "| attack | measured | target | verdict |"
echo "|---|---|---|---|"
for phase in $PHASES; do
case $phase in
images)
    start
    echo "attack: images: 64 x 4096x4096 RGBA PNG, then 64 x 4096x4096 progressive JPEG" >&2
    "$LOADGEN" --url "$B/classify" --body "$tmp/big.png" --ctype image/png -c 64 -d 120 \
        --max-requests 64 --timeout 120 --quiet >"$tmp/png.json"
    "$LOADGEN" --url "$B/classify" --body "$tmp/worst.jpg" --ctype image/jpeg -c 64 -d 120 \
        --max-requests 64 --timeout 120 --quiet >"$tmp/jpg.json"
    hwm=$(hwm_mib)
    s1=$(field "$tmp/png.json" '.status') s2=$(field "$tmp/jpg.json" '.status')
    ok=$([ "$hwm" -lt 1024 ] && [ "$(field "$tmp/png.json" '.ok')" = 64 ] &&
         [ "$(field "$tmp/jpg.json" '.ok')" = 64 ] && echo 1 || echo 0)
    row "64 concurrent 4096x4096 RGBA PNG ($(stat -c %s "$tmp/big.png") B) then 64 progressive 4:4:4 JPEG ($(stat -c %s "$tmp/worst.jpg") B), default settings" \
        "PNG $s1, JPEG $s2; peak RSS $hwm MiB; p99 $(field "$tmp/png.json" '.latency_ms.p99') / $(field "$tmp/jpg.json" '.latency_ms.p99') ms" \
        "all 200, peak RSS < 1024 MiB" "$(check images "$ok")"
    stop ;;
bombs)
    start
    echo "attack: bombs: 16 x 500-scan progressive JPEG" >&2
    "$LOADGEN" --url "$B/classify" --body "$tmp/bomb.jpg" --ctype image/jpeg -c 16 -d 60 \
        --max-requests 16 --timeout 60 --quiet >"$tmp/bomb.json"
    max=$(field "$tmp/bomb.json" '.latency_ms.max')
    n=$(field "$tmp/bomb.json" '.requests - .transport_errors')
    ok=$(awk_true "$max < 30000 && $n == 16" && echo 1 || echo 0)
    row "16 concurrent 4096x4096 500-scan JPEG bombs ($(stat -c %s "$tmp/bomb.jpg") B), default settings" \
        "$(field "$tmp/bomb.json" '.status'), slowest answer $max ms" \
        "all answered within request-timeout-ms (30000 ms)" "$(check bombs "$ok")"
    stop
    start --max-image-scans 1000
    echo "attack: bombs: 16 abandoned after 1 s (bombs decode in full: --max-image-scans 1000)" >&2
    "$LOADGEN" --url "$B/classify" --body "$tmp/bomb.jpg" --ctype image/jpeg -c 16 -d 60 \
        --max-requests 16 --timeout 1 --quiet >"$tmp/left.json"
    sleep 0.5
    c0=$(cpu_ticks)
    sleep 3
    c1=$(cpu_ticks)
    cpu=$(awk -v a="$c0" -v b="$c1" -v t="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / t }')
    canc=$(metric 'snnd_image_decodes_total{result="cancelled"}')
    ok=$(awk_true "$cpu < 0.3" && echo 1 || echo 0)
    row "the same 16 bombs, clients gone after 1 s, --max-image-scans 1000 (full 2.7 s decodes)" \
        "daemon CPU in the 3 s after: $cpu s; decodes cancelled: ${canc:-0}" \
        "< 0.3 s (decoding stops)" "$(check bombs-left "$ok")"
    stop ;;
overload)
    start --max-connections 512 --max-connections-per-ip 0
    echo "attack: overload: c=64 and c=256, ${OSECS}s each" >&2
    "$LOADGEN" --url "$B/classify" --body "$tmp/c32.png" --ctype image/png -c 64 -d "$OSECS" \
        --quiet >"$tmp/c64.json"
    "$LOADGEN" --url "$B/classify" --body "$tmp/c32.png" --ctype image/png -c 256 -d "$OSECS" \
        --quiet >"$tmp/c256.json"
    r64=$(field "$tmp/c64.json" '.ok_rps') r256=$(field "$tmp/c256.json" '.ok_rps')
    ratio=$(awk -v a="$r256" -v b="$r64" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print 0 }')
    ok=$(awk_true "$ratio >= 0.8" && echo 1 || echo 0)
    row "closed loop, 32x32 PNG, default model, c=64 then c=256 (${OSECS} s each, Retry-After ignored)" \
        "ok/s $r64 at 64, $r256 at 256 ($(field "$tmp/c256.json" '.status')): ratio $ratio" \
        ">= 0.8" "$(check overload "$ok")"
    stop ;;
slow)
    start
    echo "attack: slow headers: 300 sockets from 127.0.0.2 for ${SSECS}s" >&2
    "$LOADGEN" --url "$B/" --slow-headers 300 --bind 127.0.0.2 -d "$SSECS" >"$tmp/slow.json" &
    bg=$!
    sleep 3
    "$LOADGEN" --url "$B/healthz" -c 1 -d $((SSECS - 5)) --no-reuse --interval 0.2 --timeout 5 \
        --quiet >"$tmp/probe.json"
    wait "$bg" || true
    bg=""
    p99=$(field "$tmp/probe.json" '.latency_ms.p99')
    n=$(field "$tmp/probe.json" '.requests') ok200=$(field "$tmp/probe.json" '.ok')
    ok=$(awk_true "$p99 < 100 && $n == $ok200 && $n > 0" && echo 1 || echo 0)
    row "300 slow-header sockets from 127.0.0.2 (${SSECS} s), /healthz probes from 127.0.0.1, default settings" \
        "probes $ok200/$n 200, p99 $p99 ms, max $(field "$tmp/probe.json" '.latency_ms.max') ms; attacker held at most $(field "$tmp/slow.json" '.held_max') sockets, $(field "$tmp/slow.json" '.cut_by_server') cut" \
        "all 200, p99 < 100 ms" "$(check slow "$ok")"
    stop ;;
json)
    start
    echo "attack: json: 8 x 8 MB pixel arrays" >&2
    "$LOADGEN" --url "$B/classify" --body "$tmp/pixels.json" --ctype application/json -c 8 -d 60 \
        --max-requests 8 --timeout 60 --quiet >"$tmp/json.json"
    hwm=$(hwm_mib)
    st=$(field "$tmp/json.json" '.status')
    ok=$(awk_true "$hwm < 1024 && $(field "$tmp/json.json" .ok) == 0 && $(field "$tmp/json.json" .requests) == 8" && echo 1 || echo 0)
    row "8 concurrent 8 MB {\"pixels\":[0,0,...]} bodies, default settings" \
        "$st, p99 $(field "$tmp/json.json" '.latency_ms.p99') ms, peak RSS $hwm MiB" \
        "4xx before expansion, peak RSS < 1024 MiB" "$(check json "$ok")"
    stop ;;
jobs)
    start --queue-size 2048 --default-model fashion-mnist
    echo "attack: jobs: 1024 x 1000 steps" >&2
    curl -s -o /dev/null -XPOST -H 'Content-Type: image/png' --data-binary @"$tmp/f28.png" "$B/classify"
    rss0=$(rss_mib)
    "$LOADGEN" --url "$B/v1/jobs?steps=1000&model=fashion-mnist" --body "$tmp/f28.png" \
        --ctype image/png -c 8 -d 120 --max-requests 1024 --quiet >"$tmp/jobs.json"
    for _ in $(seq 1 1200); do   # at most 10 minutes for the jobs to run
        [ "$(metric 'snnd_queue_depth{model="fashion-mnist"}')" = 0 ] && break
        sleep 0.5
    done
    sleep 1
    rss1=$(rss_mib)
    held=$(metric snnd_jobs_memory_bytes)
    grew=$((rss1 - rss0))
    ok=$(awk_true "$grew <= 64 + 2 + 32" && echo 1 || echo 0)
    row "1024 /v1/jobs of 1000 steps (fashion-mnist, queue-size 2048), default max-jobs and jobs-memory-bytes; the admitted ones run" \
        "$(field "$tmp/jobs.json" '.status'); RSS $rss0 -> $rss1 MiB (+$grew); event logs held $held bytes" \
        "RSS +<= 98 MiB (jobs-memory-bytes 64 MiB + 1024 x 2 KiB structs + 32 MiB)" "$(check jobs "$ok")"
    stop ;;
*) echo "attack: unknown phase $phase" >&2; exit 2 ;;
esac
done
echo
echo "tools/attack.sh on $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg): $verdict"
[ "$verdict" = PASS ]
