#!/usr/bin/env bash
# Set up (scripts/setup.sh) and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# The dashboard test looks at a page in Debian's headless Chromium.
if ! command -v chromium >/dev/null 2>&1; then
  if ! { apt-get update -qq && apt-get install -y -qq chromium; } >/tmp/ganstab-apt.log 2>&1; then
    cat /tmp/ganstab-apt.log >&2
    echo "test: could not install chromium (apt-get install chromium), which the browser test needs" >&2
    exit 1
  fi
fi
.venv/bin/ruff check ganstab tests bench
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
