#!/usr/bin/env bash
# Create .venv (if missing) and install ganstab with its test tools. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi

pip_install() {  # quiet on success (this machine's pip config prints many 'is ignored' warnings)
  local log
  log=$(mktemp)
  if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check \
      -c requirements/constraints.txt "$@" >"$log" 2>&1; then
    grep -v "is ignored" "$log" >&2
    echo "setup: pip install $* failed" >&2
    exit 1
  fi
  rm -f "$log"
}

# torch/torchvision first, pinned (requirements/constraints.txt): on this project's machines pip
# takes them from local disk; other versions would download gigabytes.
pip_install torch torchvision
pip_install -e ".[dev]"
.venv/bin/python -c "import ganstab, torch; print(f'ganstab {ganstab.__version__} ready (torch {torch.__version__})')"
