#!/bin/sh
# run.sh: the page in a real browser (tests/browser/page.test.mjs).
#
# Installs what is missing: Debian's chromium (the browser playwright-core
# drives; never a downloaded browser build), node/npm, and the npm packages
# pinned in package-lock.json (npm ci). Builds build/snnd when absent.
# Prints the test's closing line "N passed, N failed"; exit 1 on failure.
#   SNND=path/to/snnd  SNND_MODELS=dir  CHROMIUM=path  ARTIFACTS=dir
set -u
cd "$(dirname "$0")/../.." || exit 2
ROOT=$PWD

need=""
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || need="$need chromium chromium-driver"
command -v node >/dev/null 2>&1 || need="$need nodejs"
command -v npm >/dev/null 2>&1 || need="$need npm"
if [ -n "$need" ]; then
    SUDO=""
    [ "$(id -u)" = 0 ] || SUDO="sudo"
    echo "browser: installing$need" >&2
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq \
        --no-install-recommends $need fonts-dejavu-core >/dev/null || {
        echo "browser: cannot install$need"
        echo "0 passed, 1 failed"
        exit 1
    }
fi

if ! (cd tests/browser && npm ci --no-audit --no-fund --loglevel=error >/dev/null); then
    echo "browser: npm ci failed"
    echo "0 passed, 1 failed"
    exit 1
fi

if [ -z "${SNND:-}" ] && [ ! -x build/snnd ]; then
    make --no-print-directory build/snnd >/dev/null || {
        echo "browser: build/snnd does not build"
        echo "0 passed, 1 failed"
        exit 1
    }
fi

mkdir -p "${ARTIFACTS:-$ROOT/tests/artifacts}"
exec node tests/browser/page.test.mjs
