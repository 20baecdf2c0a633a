#!/usr/bin/env bash
# Stage 2 at scale on a lent GPU, in budgeted pieces (config/train/stage2_scale.yaml says why and the rule):
#   run(command="bash scripts/device_train.sh", carry=[".whl"], timeout_s=560)   (.whl: see scripts/device_check.sh)
# Renders the frames there (all cores; a fresh machine keeps nothing between calls), trains for MINUTES, and puts
# the run (weights, snapshots, log, resume state) in $OUT; bring it back to runs/stage2_scale, score it with
# scripts/validate_gap.py here, and resume on the next lent machine with the run carried back.
# Here, to check the script itself: DEVICE=cpu MINUTES=0.2 FRAMES=24 bash scripts/device_train.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/device_env.sh
OUT=${OUT:-outputs/device_train}
DATA=${DATA:-data_cache/synth128_scale}
mkdir -p "$OUT"
start=$(date +%s)
[ -d "$DATA" ] || $PY -m perfecting_depth_ros.cli data --out "$DATA" --split train --frames "${FRAMES:-20000}" \
  --world-version 2 --workers "$(nproc)" 2>&1 | grep -v "it/s]" | tail -3
echo "frames rendered in $(( $(date +%s) - start )) s" | tee "$OUT/log.txt"
[ -d runs/stage2_scale ] && cp -r runs/stage2_scale/. "$OUT/run/" 2>/dev/null || true   # a carried run resumes
$PY -m perfecting_depth_ros.cli train stage2 --config config/train/stage2_scale.yaml --data-dir "$DATA" \
  --out-dir "$OUT/run" --device "${DEVICE:-cuda}" --max-minutes "${MINUTES:-6}" 2>&1 | grep -v "it/s]" \
  | tail -5 | tee -a "$OUT/log.txt"
