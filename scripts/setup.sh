#!/usr/bin/env bash
# Create .venv and install painterly into it (with the test tools when given --test).
# Idempotent: a second run only checks that everything is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
# painterly itself asks only for torch>=2.1, so users keep the torch they have. A bare `torch`
# requirement on a machine without torch pulls a multi-GB CUDA build; torch 2.13.0 installs the
# CPU wheel on this machine kind, so install that first when no torch is present.
if ! .venv/bin/python -c "import torch" >/dev/null 2>&1; then
    "${PIP[@]}" install "torch==${TORCH_VERSION:-2.13.0}"
fi
# capsnet (src/capsnet) needs its `capsnet` extra for the shipped digits, with or without --test.
extras="[capsnet]"
[ "${1:-}" = "--test" ] && extras="[test,capsnet]"
"${PIP[@]}" install -e ".${extras}"
# The browser test of the web app drives Debian's Chromium (skipped when it is already there).
if [ "${1:-}" = "--test" ]; then bash scripts/install_browser.sh; fi
