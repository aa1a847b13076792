#!/usr/bin/env bash
# Create .venv with tykevents and its dependencies; with --test, also what the tests need
# (pytest; redis-server, chromium and chromium-driver from Debian's packages when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
}

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    echo "tykevents needs Python 3.11 or newer as '$PY' (set PYTHON=...)" >&2
    exit 1
fi
if ! "$PY" -m venv --help >/dev/null 2>&1 || ! "$PY" -c 'import ensurepip' 2>/dev/null; then
    apt_install python3-venv python3-dev
fi
command -v cc >/dev/null || apt_install gcc
# Tyk's JS VM has underscore.js as `_`; Debian's package provides it (we ship no copy).
[ -e /usr/share/javascript/underscore/underscore.min.js ] || apt_install libjs-underscore || true

if [ "${1:-}" = "--test" ] && ! command -v redis-server >/dev/null; then
    apt_install redis-server
    # Debian starts a system redis on 6379; the tests start their own, so leave it alone.
fi
# tests/browser drive the web console in Debian's chromium through its chromedriver.
if [ "${1:-}" = "--test" ] && ! { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }; then
    apt_install chromium chromium-driver
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip setuptools wheel Cython
if [ "${1:-}" = "--test" ]; then
    .venv/bin/python -m pip install -q -e '.[test]'
else
    .venv/bin/python -m pip install -q -e .
fi
# The compiled hot path, in place, so that the tests import it from this tree.
.venv/bin/python setup.py -q build_ext --inplace
