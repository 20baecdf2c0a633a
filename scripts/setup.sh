#!/usr/bin/env bash
# Create .venv at the repository root with everything: torch (CPU build) first, ROS 2 wheels,
# the runtime/training/test dependencies, and the package itself (non-editable, so share/ files exist).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
VPIP=".venv/bin/python -m pip"
$VPIP install -q --upgrade pip >/dev/null
.venv/bin/python -c "import torch" 2>/dev/null || $VPIP install -q torch==2.13.0
$VPIP install -q -r requirements/ros.txt -r requirements/core.txt -r requirements/dev.txt
rm -rf build  # setuptools' build/lib keeps files deleted from the tree; they would be installed again
$VPIP install -q --no-deps --no-build-isolation --force-reinstall . 2>&1 | grep -v -i warn || true
echo "environment ready: $(pwd)/.venv"
