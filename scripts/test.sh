#!/usr/bin/env bash
# Set everything up and run the whole test suite (what CI runs).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
# Every message field type-checked on assignment, as Humble always does (its generated setters assert under
# __debug__; later distros only with this set): a numpy scalar in a float field fails here as it would there.
export ROS_PYTHON_CHECK_FIELDS=${ROS_PYTHON_CHECK_FIELDS:-1}
.venv/bin/ruff check .
.venv/bin/python -m pytest -q -p no:cacheprovider test "$@"
