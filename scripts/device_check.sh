#!/usr/bin/env bash
# The device checks (scripts/device_check.py) as one call of the `device` tool, for a session lent a GPU:
#   here, once:  echo /.whl/ >> .git/info/exclude
#                python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#                  --platform manylinux2014_x86_64 -d .whl diffusers==0.42.1
#   then:        run(command="bash scripts/device_check.sh", carry=[".whl"], timeout_s=540)
# The GPU machine's python3 (3.12) holds torch (CUDA), onnxruntime, accelerate, numba, OpenCV and the rest;
# diffusers (the model's blocks, pinned) travels as a wheel, and needs no importlib_metadata on 3.12.
# Results come back in $OUT (device_check.json, log.txt).
# Here, to check the script itself: DEVICE=cpu STEPS=4 RUNS=3 bash scripts/device_check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/device_env.sh
OUT=${OUT:-outputs/device_check}
mkdir -p "$OUT"
set -o pipefail
$PY scripts/device_check.py --device "${DEVICE:-cuda}" --steps "${STEPS:-200}" --runs "${RUNS:-20}" --out "$OUT" 2>&1 \
  | grep -v "it/s]" | tee "$OUT/log.txt"
