#!/usr/bin/env bash
# The whole test suite on the other Pythons robots run, each in its own venv at the repository root:
#   3.10 (Humble), with the oldest numpy the package supports (requirements/core.txt's floor), and
#   3.12 (Jazzy, Kilted), with the newest releases of everything.
# Also 3.13, newer than those distributions use: bash scripts/test_pythons.sh 3.13.
# CI runs scripts/test.sh (Python 3.11) only: torch for another Python is PyPI's CUDA build, about 3 GB a venv.
#   bash scripts/test_pythons.sh [3.10] [3.12]   (default: both; interpreters from PATH or pyenv)
# ROS_WHEELS=jazzy takes Jazzy's releases of the ROS 2 wheels instead of the newest (ros-rclpy 7.1.6, common_interfaces
# 5.3.6, rcl_interfaces 2.0.3), in a venv of its own (.venv-py3.12-jazzy): Jazzy's rclpy on Jazzy's Python.
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
    cons=$(mktemp)
    [ "$v" = 3.10 ] && echo "numpy==$floor.*" > "$cons"
    ros_req=requirements/ros.txt suffix=""
    if [ "${ROS_WHEELS:-}" = jazzy ]; then
        suffix=-jazzy ros_req=$(mktemp)
        sed 's/^ros-rclpy\[fastrtps\]==.*/ros-rclpy[fastrtps]==7.1.6/' requirements/ros.txt > "$ros_req"
        printf '%s\n' ros-sensor-msgs==5.3.6 ros-std-msgs==5.3.6 ros-geometry-msgs==5.3.6 ros-diagnostic-msgs==5.3.6 \
            ros-rcl-interfaces==2.0.3 >> "$cons"
    elif [ -n "${ROS_WHEELS:-}" ]; then
        echo "ROS_WHEELS: jazzy or unset, not '$ROS_WHEELS'" >&2; exit 2
    fi
    venv="$root/.venv-py$v$suffix"
    [ -x "$venv/bin/python" ] || "$py" -m venv "$venv"
    pip=("$venv/bin/python" -m pip install -q)
    "${pip[@]}" --upgrade pip >/dev/null
    "$venv/bin/python" -c "import torch" 2>/dev/null || "${pip[@]}" torch==2.13.0
    "${pip[@]}" -c "$cons" -r "$ros_req" -r requirements/core.txt -r requirements/dev.txt
    rm -rf build "$cons"
    [ "$ros_req" = requirements/ros.txt ] || rm -f "$ros_req"
    "${pip[@]}" --no-deps --no-build-isolation --force-reinstall . 2>&1 | grep -v -i warn || true
    "$venv/bin/python" -c "import sys, numpy, cv2, onnxruntime, diffusers, torch, rclpy
from importlib.metadata import version
print('Python', sys.version.split()[0], '| numpy', numpy.__version__, '| OpenCV', cv2.__version__, '| onnxruntime',
      onnxruntime.__version__, '| diffusers', diffusers.__version__, '| torch', torch.__version__, '| rclpy',
      version('ros-rclpy'), '| sensor_msgs', version('ros-sensor-msgs'))"
    (
        export VIRTUAL_ENV="$venv" PATH="$venv/bin:$PATH" AMENT_PREFIX_PATH="$venv"
        export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST ROS_DOMAIN_ID=$(( (RANDOM % 150) + 30 ))
        export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} ROS_PYTHON_CHECK_FIELDS=${ROS_PYTHON_CHECK_FIELDS:-1}  # as test.sh
        "$venv/bin/python" -m pytest -q -p no:cacheprovider test
    )
done
