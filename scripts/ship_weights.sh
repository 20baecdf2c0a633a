#!/usr/bin/env bash
# Put a trained checkpoint into the package: weights, the default ONNX graph (K=4, S=2, so the CPU path
# needs no torch on the robot) and their sha256 manifest; with a second argument, the hole fusion fitted on that
# checkpoint's outputs (perfecting-depth train fusion). Without one the old fusion is removed: it was fitted on the
# old model's outputs. $SHIP_DIR, when set, receives them instead of the package (scripts/reproduce_shipped.sh --ship).
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=${1:-runs/stage2/model.safetensors}
FUSION=${2:-}
W=${SHIP_DIR:-perfecting_depth_ros/weights}
mkdir -p "$W"
PY=${PYTHON:-.venv/bin/python}
rm -f "$W/manifest.json" "$W/perfecting_depth_k4_s2.onnx" "$W/hole_fusion.safetensors"
cp "$SRC" "$W/perfecting_depth.safetensors"
$PY -m perfecting_depth_ros.cli manifest "$W/perfecting_depth.safetensors"
$PY -m perfecting_depth_ros.cli export --weights "$W/perfecting_depth.safetensors" --samples 4 --steps 2 --out "$W/perfecting_depth_k4_s2.onnx"
$PY -m perfecting_depth_ros.cli manifest "$W/perfecting_depth_k4_s2.onnx"
if [ -n "$FUSION" ]; then
  cp "$FUSION" "$W/hole_fusion.safetensors"
  $PY -m perfecting_depth_ros.cli manifest "$W/hole_fusion.safetensors"
fi
ls -la "$W"
