#!/usr/bin/env bash
# The one call of the device tool a session lent a GPU makes (scripts/device_session.py says what it does):
#   run(command="bash scripts/device_session.sh", carry=[".whl"], timeout_s=560)   (.whl: see scripts/device_check.sh)
# 15 minutes of device time in all, the machine's start included: this call takes BUDGET_S (500) of them.
# Here, to check the script itself: DEVICE=cpu BUDGET_S=240 FRAMES=96 PROBE_STEPS=30 BATCH=8 bash scripts/device_session.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/device_env.sh
OUT=${OUT:-outputs/device_session}
$PY scripts/device_session.py --device "${DEVICE:-cuda}" --budget-s "${BUDGET_S:-500}" --frames "${FRAMES:-20000}" \
  --probe-steps "${PROBE_STEPS:-60}" ${BATCH:+--batch-size "$BATCH"} --out "$OUT" "$@"
