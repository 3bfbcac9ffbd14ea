#!/bin/sh
# install-deps.sh: install the Debian packages snnd needs.
#
#   tools/install-deps.sh            build + test dependencies
#   tools/install-deps.sh --runtime  only the shared libraries the binaries load
#   tools/install-deps.sh --train    add PyTorch/ONNX for tools/train (Python)
#   tools/install-deps.sh --fuzz     add clang's libFuzzer and sanitizer runtimes
#   tools/install-deps.sh --check    exit 0 if the build+test set is installed
#
# The Dockerfile and CI call this same script, so the image, CI and a
# developer machine install one list.
set -eu

RUNTIME="libopenblas0-pthread libprotobuf-c1 libjansson4 libmicrohttpd12 libuv1
 libpng16-16 libjpeg62-turbo zlib1g ca-certificates"
BUILD="build-essential pkg-config libopenblas-dev protobuf-c-compiler
 libprotobuf-c-dev libonnx-dev libjansson-dev libmicrohttpd-dev libuv1-dev
 libcurl4-openssl-dev libpng-dev libjpeg62-turbo-dev zlib1g-dev"
TEST="libonnx-testdata dataset-fashion-mnist prometheus valgrind curl jq"
TRAIN="python3-torch python3-onnx python3-numpy"
FUZZ="clang libclang-rt-14-dev libfuzzer-14-dev"

set_=""
check=0
for a in "$@"; do
    case "$a" in
    --runtime) set_="$set_ $RUNTIME" ;;
    --train)   set_="$set_ $TRAIN" ;;
    --fuzz)    set_="$set_ $FUZZ" ;;
    --check)   check=1 ;;
    *) echo "install-deps.sh: unknown option $a" >&2; exit 2 ;;
    esac
done
# Without --runtime, the build and test set is always included.
case " $* " in *" --runtime "*) ;; *) set_="$BUILD $TEST $set_" ;; esac

missing=""
for p in $set_; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -z "$missing" ]; then exit 0; fi
if [ "$check" = 1 ]; then echo "missing:$missing"; exit 1; fi

SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
echo "install-deps.sh: installing$missing" >&2
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
