#!/bin/sh
# run.sh: snnd against the tools its users run. One closing line
# "N passed, N failed[, N skipped]"; exit 1 on any failure.
#
#   web assets     server/web_assets.c is current with web/ (tools/embed-web.sh --check)
#   promtool       check config deploy/prometheus.yml, check rules deploy/alerts.yml,
#                  test rules tests/ecosystem/alerts.test.yml (alert unit tests)
#   systemd        systemd-analyze verify + offline security score of the unit
#   manifests      compose, k8s, Grafana, systemd agree with each other and the code
#   dockerfile     lint; with REPLAY=1 (default) also replays the build natively
#   prometheus     a real Prometheus scrapes a running snnd; counters, rules, dashboard
#   openapi        Redocly lint; every live answer validated against openapi.yaml
#
# Installs what is missing: Debian packages via tools/install-deps.sh
# (prometheus), node/npm, and the npm packages pinned in package-lock.json.
#   SNND=path/to/snnd  SNND_MODELS=dir  REPLAY=0 (skip the ~1 min build replay)
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD
passed=0 failed=0 skipped=0 broken=""
. tests/tally.sh
TALLY_SEP="|"

ok()   { passed=$((passed + 1)); echo "ok   $1"; }
bad()  { failed=$((failed + 1)); broken="$broken|$1"; echo "FAIL $1"; }
skip() { skipped=$((skipped + 1)); echo "skip $1"; }

# cmd NAME COMMAND...: one check from one command's exit status.
cmd() {
    name=$1
    shift
    out=$("$@" 2>&1)
    if [ $? = 0 ]; then ok "$name"; else bad "$name"; echo "$out" | tail -n 30 | sed 's/^/     /'; fi
}

# suite NAME COMMAND...: a node script with its own closing line.
suite() {
    name=$1
    shift
    echo "--- $name"
    log=$(mktemp)
    "$@" > "$log" 2>&1
    rc=$?
    sed 's/^/  /' "$log"
    tally "$name" "$log" "$rc"
    rm -f "$log"
}

# ---------------------------------------------------------------- setup
tools/install-deps.sh >/dev/null || echo "ecosystem: tools/install-deps.sh failed" >&2
need=""
command -v node >/dev/null 2>&1 || need="$need nodejs"
command -v npm >/dev/null 2>&1 || need="$need npm"
if [ -n "$need" ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends $need >/dev/null
fi
if ! (cd tests/ecosystem && npm ci --no-audit --no-fund --loglevel=error >/dev/null 2>&1); then
    bad "npm ci (tests/ecosystem/package-lock.json)"
    echo "$passed passed, $failed failed"
    exit 1
fi
if [ -z "${SNND:-}" ] && ! make --no-print-directory build/snnd >/dev/null 2>&1; then
    bad "build/snnd builds"
    echo "$passed passed, $failed failed"
    exit 1
fi

# --------------------------------------------------------------- checks
cmd "web assets: server/web_assets.c matches web/" tools/embed-web.sh --check
cmd "promtool check config deploy/prometheus.yml" promtool check config deploy/prometheus.yml
cmd "promtool check rules deploy/alerts.yml" promtool check rules deploy/alerts.yml
cmd "promtool test rules (alert unit tests)" promtool test rules tests/ecosystem/alerts.test.yml

if command -v systemd-analyze >/dev/null 2>&1; then
    unit=$(mktemp -d)/snnd.service
    # verify needs the ExecStart binary to exist: point it at this build
    sed "s|^ExecStart=/usr/local/bin/snnd|ExecStart=${SNND:-$ROOT/build/snnd}|" deploy/systemd/snnd.service > "$unit"
    cmd "systemd-analyze verify deploy/systemd/snnd.service" sh -c "
        out=\$(systemd-analyze verify '$unit' 2>&1); echo \"\$out\"; [ -z \"\$out\" ]"
    cmd "systemd unit exposure score <= 2.0 (systemd-analyze security --offline)" sh -c "
        systemd-analyze security --offline=true --threshold=20 '$unit' >/dev/null 2>&1 ||
        { systemd-analyze security --offline=true '$unit' | tail -n 3; exit 1; }"
    rm -rf "$(dirname "$unit")"
else
    skip "systemd-analyze not installed"
fi

if command -v kubectl >/dev/null 2>&1; then
    for k in deploy/k8s deploy/k8s/autoscaling deploy/kserve; do
        cmd "kubectl kustomize $k (offline build)" kubectl kustomize "$k"
    done
else
    skip "kubectl not installed: kustomize builds of deploy/k8s, deploy/k8s/autoscaling, deploy/kserve"
fi

suite manifests node tests/ecosystem/manifests.mjs
if [ "${REPLAY:-1}" = 1 ]; then
    suite dockerfile node tests/ecosystem/dockerfile.mjs --replay
else
    suite dockerfile node tests/ecosystem/dockerfile.mjs
fi
suite prometheus node tests/ecosystem/prometheus.mjs
suite openapi node tests/ecosystem/openapi.mjs

echo
[ -z "$broken" ] || echo "failing: $(echo "$broken" | tr '|' '\n' | sed '/^$/d' | paste -sd ',' - | sed 's/,/, /g')"
if [ "$skipped" -gt 0 ]; then
    echo "$passed passed, $failed failed, $skipped skipped"
else
    echo "$passed passed, $failed failed"
fi
[ "$failed" = 0 ]
