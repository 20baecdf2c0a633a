#!/usr/bin/env bash
# Build and judge a refiner trained at scale (stage2_scale2.yaml on a GPU, stage2_scale2_cpu.yaml here) by the rule
# written in those configs, in one command:
#   1. the shipped weights' real hold-out fine-tune reapplied to it (stage2_scale_holdout.yaml, 300 steps, ~3 min here);
#   2. its own hole fusion fitted (fusion_scale.yaml, ~1.5 min);
#   3. the candidate and the shipped weights and fusion scored alike by scripts/validate_gap.py on both worlds
#      (--sets SETS --noise-seeds 4 --blob-seed BLOB; four sets pooled: about 10 min a model and world here);
#   4. scripts/rule_scale.py: (a)-(d), exit 0 only if every condition holds.
#
#   bash scripts/score_scale_candidate.sh WEIGHTS TAG [SETS] [BLOB]
#   e.g. bash scripts/score_scale_candidate.sh runs/stage2_scale2_cpu/model.safetensors scale2cpu 0,7,8,9 32000
# RULE_ARGS are passed to scripts/rule_scale.py (e.g. RULE_ARGS="--real-auroc-change -0.005", the rule a config names).
# With HOLDOUT=0, step 1 is left out: WEIGHTS have had the real hold-out fine-tune already (a head refitted on top).
#
# Writes runs/TAG_holdout/, runs/TAG_fusion/ and outputs/TAG_{S,C}_v{1,2}.jsonl; a step whose output exists is not
# run again (delete it to redo), so an interrupted run goes on where it stopped.
set -euo pipefail
cd "$(dirname "$0")/.."
WEIGHTS=${1:?weights of the refiner trained at scale} TAG=${2:?a name for the outputs}
SETS=${3:-0,7,8,9} BLOB=${4:-32000}
[ -f "$WEIGHTS" ] || { echo "no such weights: $WEIGHTS" >&2; exit 2; }
PY=${PY:-.venv/bin/python}
CLI=.venv/bin/perfecting-depth
mkdir -p outputs
HOLD=runs/${TAG}_holdout FUSION=runs/${TAG}_fusion
BUILT=$HOLD/model.safetensors
if [ "${HOLDOUT:-1}" = 0 ]; then
  BUILT=$WEIGHTS
elif [ ! -f "$BUILT" ]; then
  "$CLI" train stage2 --config config/train/stage2_scale_holdout.yaml --set "init=$WEIGHTS" --set "out_dir=$HOLD"
fi
if [ ! -f "$FUSION/hole_fusion.safetensors" ]; then
  "$CLI" train fusion --config config/train/fusion_scale.yaml --set "weights=$BUILT" \
    --set "out_dir=$FUSION"
fi
score() {  # score NAME WEIGHTS FUSION WORLD
  local out=outputs/${TAG}_$1_v$4.jsonl
  [ -s "$out" ] && return 0
  PYTHONPATH=scripts "$PY" scripts/validate_gap.py "$2" "--fusion=$3" "--sets=$SETS" --noise-seeds 4 --blob-seed "$BLOB" \
    --world-version "$4" > "$out.part"
  mv "$out.part" "$out"
}
for world in 1 2; do
  score S perfecting_depth_ros/weights/perfecting_depth.safetensors auto "$world"
  score C "$BUILT" "$FUSION/hole_fusion.safetensors" "$world"
done
"$PY" scripts/rule_scale.py ${RULE_ARGS:-} outputs/${TAG}_S_v1.jsonl outputs/${TAG}_S_v2.jsonl outputs/${TAG}_C_v1.jsonl \
  outputs/${TAG}_C_v2.jsonl
