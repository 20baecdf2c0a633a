#!/usr/bin/env bash
# The whole test suite on the other Pythons robots run, each in its own venv at the repository root:
#   3.10 (Humble), with the oldest numpy the package supports (requirements/core.txt's floor), and
#   3.12 (Jazzy, Kilted), with the newest releases of everything.
# Also 3.13, newer than those distributions use: bash scripts/test_pythons.sh 3.13.
# CI runs scripts/test.sh (Python 3.11) only: torch for another Python is PyPI's CUDA build, about 3 GB a venv.
#   bash scripts/test_pythons.sh [3.10] [3.12]   (default: both; interpreters from PATH or pyenv)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.10 3.12)
floor=$(sed -n 's/^numpy>=\([0-9.]*\).*/\1/p' requirements/core.txt)
for v in "${versions[@]}"; do
    py=""
    for c in "python$v" $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python 2>/dev/null); do
        # the first that runs (a pyenv shim for a version not selected is on PATH but fails)
        if "$c" -c "import sys" >/dev/null 2>&1; then py=$c; break; fi
    done
    [ -n "$py" ] || { echo "no Python $v on PATH or in pyenv" >&2; exit 1; }
    venv="$root/.venv-py$v"
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    pip=("$venv/bin/python" -m pip install -q)
    cons=$(mktemp)
    [ "$v" = 3.10 ] && echo "numpy==$floor.*" > "$cons"
    "${pip[@]}" --upgrade pip >/dev/null
    "$venv/bin/python" -c "import torch" 2>/dev/null || "${pip[@]}" torch==2.13.0
    "${pip[@]}" -c "$cons" -r requirements/ros.txt -r requirements/core.txt -r requirements/dev.txt
    rm -rf build "$cons"
    "${pip[@]}" --no-deps --no-build-isolation --force-reinstall . 2>&1 | grep -v -i warn || true
    "$venv/bin/python" -c "import sys, numpy, cv2, onnxruntime, diffusers, torch, rclpy
print('Python', sys.version.split()[0], '| numpy', numpy.__version__, '| OpenCV', cv2.__version__, '| onnxruntime',
      onnxruntime.__version__, '| diffusers', diffusers.__version__, '| torch', torch.__version__)"
    (
        export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" AMENT_PREFIX_PATH="$venv"
        export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=$(( (RANDOM % 150) + 30 ))
        export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} ROS_PYTHON_CHECK_FIELDS=${ROS_PYTHON_CHECK_FIELDS:-1}  # as test.sh
        "$venv/bin/python" -m pytest -q -p no:cacheprovider test
    )
done
