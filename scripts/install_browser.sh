#!/usr/bin/env bash
# Install the browser the end-to-end test of `painterly serve` drives: Debian's chromium package,
# plus the Python `playwright` package (installed by `pip install -e .[test]`) as its driver.
# Playwright's own browser download (`playwright install`) is never used: it fetches a browser
# build from outside the package registries. Idempotent: does nothing when /usr/bin/chromium exists.
set -euo pipefail
CHROMIUM=${PAINTERLY_CHROMIUM:-/usr/bin/chromium}
if [ -x "$CHROMIUM" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser.sh: no apt-get here; install Chromium and set PAINTERLY_CHROMIUM to it" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
"$CHROMIUM" --version
