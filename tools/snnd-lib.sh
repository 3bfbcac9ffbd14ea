# snnd-lib.sh: shell helpers shared by the measurement scripts (attack.sh,
# faults.sh, soak.sh, bench_daemon.sh). Source it; POSIX sh.
#
#   snnd_start LOG [FLAGS...]   start $BUILD/snnd on 127.0.0.1 with a port the
#                               kernel picks (--port 0), read that port from
#                               the process's listening socket (/proc: no
#                               log line needed, any --log-level), wait for
#                               /readyz; sets pid, port and B (base URL).
#   snnd_stop                   stop it and reap it.
#   jnum FILE FILTER            a jq filter's value (numbers, strings raw).
#   awk_true EXPR               exit 0 when the awk expression is true.

snnd_start() {
    _log=$1
    shift
    : >"$_log"
    "${BUILD:-build}/snnd" --host 127.0.0.1 --port 0 "$@" >"$_log" 2>&1 &
    pid=$!
    port=""
    _i=0
    while [ -z "$port" ]; do
        kill -0 "$pid" 2>/dev/null || { echo "snnd exited at startup:" >&2; cat "$_log" >&2; return 1; }
        port=$(snnd_listen_port "$pid")
        [ -n "$port" ] && break
        _i=$((_i + 1))
        [ $_i -lt 600 ] || { echo "snnd: no listening socket in 60 s" >&2; cat "$_log" >&2; return 1; }
        sleep 0.1
    done
    B=http://127.0.0.1:$port
    _i=0
    until curl -fs "$B/readyz" >/dev/null 2>&1; do
        _i=$((_i + 1))
        [ $_i -lt 600 ] || { echo "snnd: not ready in 60 s" >&2; cat "$_log" >&2; return 1; }
        sleep 0.1
    done
}

# the TCP port PID listens on: its socket inodes, matched in /proc/net/tcp
# (state 0A = LISTEN; the port is hex)
snnd_listen_port() {
    for _ino in $(ls -l "/proc/$1/fd" 2>/dev/null | sed -nE 's/.*socket:\[([0-9]+)\].*/\1/p'); do
        _hex=$(awk -v i="$_ino" '$4 == "0A" && $10 == i { split($2, a, ":"); print a[2] }' /proc/net/tcp)
        [ -n "$_hex" ] && { printf '%d\n' "0x$_hex"; return 0; }
    done
}

snnd_stop() {
    [ -n "${pid:-}" ] || return 0
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    pid=""
}

jnum() { jq -r "$2" "$1"; }

awk_true() { awk "BEGIN { exit !($1) }"; }
