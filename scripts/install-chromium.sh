#!/usr/bin/env bash
# Install Debian's Chromium (and its driver) for the headless-browser report test
# (tests/test_report.py). Idempotent: does nothing when /usr/bin/chromium is present.
# Needs apt-get (Debian/Ubuntu) and root or sudo. Exit status 0 when Chromium is there.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
    echo "install-chromium: $CHROMIUM already present ($("$CHROMIUM" --version 2>/dev/null || echo 'version unknown'))"
    exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-chromium: apt-get not found; install Chromium so that $CHROMIUM exists" >&2
    exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    if ! command -v sudo >/dev/null 2>&1; then
        echo "install-chromium: not root and sudo not found" >&2
        exit 1
    fi
    SUDO=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update
"${SUDO[@]}" apt-get install -y chromium chromium-driver

if [ ! -x "$CHROMIUM" ]; then
    echo "install-chromium: installed, but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "install-chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo "$CHROMIUM")"
