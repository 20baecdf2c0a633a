#!/usr/bin/env bash
# Reproduce the shipped weights from scratch, and nothing else: render the synthetic data, train stage 1, distil,
# the seven stage-2 schedules, the raw-error heads and the real Kinect v1 fine-tunes, average the heads, fit the hole
# fusion, then train the refiner at scale on 20,000 world-v2 frames, continue it on 20,000 new ones, grow it by a
# context level and train that on 20,000 more, by another below it and train that on 20,000 more, train that once more
# on 20,000 more with one real 7-Scenes window in eight of each batch (its depth edges held), fit its own hole fusion,
# and put the result into the package with its manifest. Seeded; configs in config/train/; the model card
# says what each run took: up to the fifteenth session's fusion about 5.5 hours on 2-core CPUs; the scale runs 4,500
# steps of batch 64 on an H200 (7 min; about 4.6 hours at this CPU's 3.7 s a step), 3,000 + 3,000 + 1,500 + 1,200 +
# 1,200 on the CPU (about 10.5 hours), besides rendering the data and fusing the 7-Scenes reference. Configs say
# `device: auto`: on a GPU the runs give equivalent, not bit-identical, weights.
# scripts/reproduce_weights.sh runs the same steps with every experiment beside them.
#
#   bash scripts/reproduce_shipped.sh [--work DIR] [--ship DIR] [--seed-offset N] [--smoke]
#
#   --work DIR  where runs/ and data_cache/ go (default: the repository root); relative paths in the configs resolve
#               there. The real 7-Scenes frames come from $PERFECTING_DEPTH_REAL_DATA or ../shared/data/real; their
#               fused reference (data_cache/7scenes_ref, `perfecting-depth reference`, needs open3d) is built when
#               missing.
#   --ship DIR  where the weights, the ONNX graph, the hole fusion and manifest.json go (default: the package's
#               perfecting_depth_ros/weights; reinstall the package afterwards: pip install .).
#   --seed-offset N  every training run's seed (its config's `seed`) plus N: another draw of the same recipe
#               (initialisation, noise, batch order; the data are the same), to measure how far runs of it spread.
#               Use its own --work: its runs resume what they find there. The data do not change with N: hard-link
#               another work folder's rendered shards in first and they are not rendered again:
#               mkdir -p DIR/data_cache && cp -al OTHER/data_cache/synth128 OTHER/data_cache/synth128_v2 DIR/data_cache/
#   --smoke     the same chain of commands at toy scale (a few frames, 4 steps a run, 4 real frames), to check that
#               it runs end to end: what test/test_reproduce.py does. Its weights are worthless.
#
# Sourced (scripts/reproduce_weights.sh does), it only defines the chain's steps, ship_* below.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${PYTHON:-$REPO/.venv/bin/python}"  # $PYTHON: another interpreter with the package (the tests pass theirs)
export PYTHON="$PY"  # ship_weights.sh's too
PD="$PY -m perfecting_depth_ros.cli"
CFG="$REPO/config/train"
SHIP="${SHIP:-$REPO/perfecting_depth_ros/weights}"
SMOKE="${SMOKE:-0}"
SEED_OFFSET="${SEED_OFFSET:-0}"

# One training run of the chain: `train STAGE CONFIG [ARGS...]` (in smoke mode 4 steps of batch 2, every schedule
# cut to them, real frames 0-3; with a seed offset the config's seed plus it).
train() {
  local stage=$1 config=$2 seed
  shift 2
  if [ "$SEED_OFFSET" != 0 ]; then
    seed=$(sed -n 's/^seed: *\([0-9][0-9]*\) *\(#.*\)*$/\1/p' "$CFG/$config.yaml")
    [ -n "$seed" ] || { echo "no seed: line in $CFG/$config.yaml" >&2; return 1; }
    set -- "$@" --set "seed=$((seed + SEED_OFFSET))"
  fi
  if [ "$SMOKE" = 1 ]; then
    if [ "$stage" = fusion ]; then
      set -- "$@" --steps 5 --set "real_frames=[0,4,1]" --set synth_frames=2 --set batch_size=512
    else
      set -- "$@" --steps 4 --set stop_after=null --set snapshot_every=0 --set batch_size=2 --set alt_batch_size=2 \
        --set log_every=1 --set ckpt_every=4 --set "real_frames=[0,4]" --set device=cpu --set loader_workers=0
    fi
  fi
  $PD train "$stage" --config "$CFG/$config.yaml" "$@"
}

# The checkpoint a later run starts from: RUN's snapshot at STEP (in smoke mode, RUN's last model).
snapshot() {
  if [ "$SMOKE" = 1 ]; then echo "runs/$1/model.safetensors"; else echo "runs/$1/model_step$2.safetensors"; fi
}

# Synthetic frames: `frames DIR SPLIT COUNT [data ARGS...]`, rendered unless DIR holds the last shard they fill
# (shards are numbered by frame index, so a `--start N` among the ARGS moves it).
frames() {
  local dir=$1 split=$2 count=$3 start=0 prev="" a last
  shift 3
  for a in "$@"; do [ "$prev" = --start ] && start=$a; prev=$a; done
  [ "$SMOKE" = 1 ] && count=8
  last=$(printf "%s/%s-%04d.npz" "$dir" "$split" $(((start + count - 1) / 500)))
  [ -f "$last" ] || $PD data --out "$dir" --split "$split" --frames "$count" "$@"
}

ship() {  # ship() WEIGHTS [FUSION]: weights (and hole fusion) into $SHIP, with the ONNX graph and manifest
  SHIP_DIR="$SHIP" bash "$REPO/scripts/ship_weights.sh" "$PWD/$1" ${2:+"$PWD/$2"}
}

# 1-3 (first to seventh sessions): stage 1, distillation and the seven stage-2 schedules on world v1, then the
# light raw-error head with glass and mirror frames twice, everything else frozen.
ship_synthetic() {
  frames data_cache/synth128 train 6000 --size 128x160 --crop-of 240x320
  frames data_cache/synth128 val 200 --size 128x160 --crop-of 240x320
  train stage1 stage1
  train distill distill
  local s
  for s in stage2 stage2b stage2c stage2d stage2e stage2f stage2g; do train stage2 $s; done
  train errorhead errorhead_light_hard --init runs/stage2g/model.safetensors
}

# 4 (seventh session): the refiner fine-tuned on world-v2 frames and, self-supervised, on real Kinect v1 raw depth
# (7-Scenes frames 0-699: blobs of valid raw hidden, the hidden raw the target); its step 600 goes on.
ship_v2_holdout() {
  frames data_cache/synth128_v2 train 6000 --size 128x160 --crop-of 240x320 --world-version 2
  train stage2 stage2_v2_holdout
}

# 5 (tenth and eleventh sessions): two raw-error heads with real labels from the fused 7-Scenes reference, averaged.
ship_heads_11() {
  train errorhead errorhead_mixed_long --init "$(snapshot stage2_v2_holdout 600)"
  train errorhead errorhead_mixed_trade --init "$(snapshot stage2_v2_holdout 600)"
  mkdir -p runs/head_soup
  $PY "$REPO/scripts/average_heads.py" runs/head_soup/mixed_53_59.safetensors \
    "$(snapshot errorhead_mixed_long 3000)" "$(snapshot errorhead_mixed_trade 1500)"
  $PD manifest runs/head_soup/mixed_53_59.safetensors
}

# 6 (twelfth and thirteenth sessions): the refiner fine-tuned with real hold-out blobs drawn toward raw holes (its
# step 300), two heads fitted on top of it and averaged: the shipped weights.
ship_hole_bias_13() {
  train stage2 stage2_hole_bias
  train errorhead errorhead_hb300_trade --init "$(snapshot stage2_hole_bias 300)"
  train errorhead errorhead_hb300_long --init "$(snapshot stage2_hole_bias 300)"
  $PY "$REPO/scripts/average_heads.py" runs/head_soup/hb300_83_89.safetensors \
    "$(snapshot errorhead_hb300_long 3000)" "$(snapshot errorhead_hb300_trade 1500)"
  $PD manifest runs/head_soup/hb300_83_89.safetensors
  ship runs/head_soup/hb300_83_89.safetensors
}

# 7 (fifteenth session): the hole fusion, fitted on the shipped weights' outputs and shipped beside them.
ship_fusion_15() {
  train fusion fusion --init "$SHIP/perfecting_depth.safetensors"
  ship runs/head_soup/hb300_83_89.safetensors runs/fusion/hole_fusion.safetensors
}

# 8 (thirtieth to forty-ninth sessions): the refiner trained at scale from those weights on 20,000 world-v2 frames:
# 4,500 steps of batch 64 on a lent H200 (thirtieth session; its 4,508-step schedule was cut at 4,500 by the device
# budget: stop_after), then a 3,000-step schedule on this 2-core CPU (forty-eighth and forty-ninth sessions, 3.7 s a
# step), the real hold-out fine-tune reapplied (300 steps) and a hole fusion fitted on its outputs: the shipped weights
# and fusion (they passed stage2_scale2_cpu.yaml's rule, written before training).
ship_scale_49() {
  frames data_cache/synth128_scale train 20000 --size 128x160 --crop-of 240x320 --world-version 2
  train stage2 stage2_scale --init "$SHIP/perfecting_depth.safetensors" --steps 4508 --set stop_after=4500
  train stage2 stage2_scale2_cpu --init runs/stage2_scale/model.safetensors
  train stage2 stage2_scale_holdout --init runs/stage2_scale2_cpu/model.safetensors --out-dir runs/scale2cpu_holdout
  train fusion fusion_scale --init runs/scale2cpu_holdout/model.safetensors --out-dir runs/scale2cpu_fusion
  ship runs/scale2cpu_holdout/model.safetensors runs/scale2cpu_fusion/hole_fusion.safetensors
}

# 9 (fifty-first to fifty-fifth sessions): that refiner (before its real fine-tune) continued for 3,000 steps on 20,000
# world-v2 frames no run had seen (train frames 20,000-39,999), grown by a 1/8-resolution context level and trained
# 1,500 steps on 20,000 more (40,000-59,999), about 3.6 s a step here (shipped in the fifty-fifth session, with its
# real hold-out fine-tune and a hole fusion, by stage2_context_cpu.yaml's rule).
context_55() {
  frames data_cache/synth128_scale_b train 20000 --start 20000 --size 128x160 --crop-of 240x320 --world-version 2
  frames data_cache/synth128_scale_c train 20000 --start 40000 --size 128x160 --crop-of 240x320 --world-version 2
  train stage2 stage2_scale4_cpu --init runs/stage2_scale2_cpu/model.safetensors
  train stage2 stage2_context_cpu --init runs/stage2_scale4_cpu/model.safetensors
}

# 10 (fifty-sixth session): the context refiner (its run's end) grown by a 1/16-resolution level below the 1/8 one and
# trained 1,200 steps on 20,000 more new frames (60,000-79,999), about 4.0 s a step here (shipped in the fifty-sixth
# session, with its real hold-out fine-tune and a hole fusion, by stage2_context2_cpu.yaml's rule).
context2_56() {
  frames data_cache/synth128_scale_d train 20000 --start 60000 --size 128x160 --crop-of 240x320 --world-version 2
  train stage2 stage2_context2_cpu --init runs/stage2_context_cpu/model.safetensors
}

# 11 (fifty-ninth session): that refiner (its run's end) trained 1,200 steps more on 20,000 more new frames
# (80,000-99,999) with one real 7-Scenes hold-out window in eight of each batch, the gradient term doubled and the real
# windows' depth edges left out of the depth loss, about 3.9 s a step here; the real hold-out fine-tune reapplied and
# a hole fusion fitted on its outputs: the shipped weights and fusion (they passed stage2_context2_edges_cpu.yaml's
# rule, written before training).
ship_context2_edges_59() {
  frames data_cache/synth128_scale_e train 20000 --start 80000 --size 128x160 --crop-of 240x320 --world-version 2
  train stage2 stage2_context2_edges_cpu --init runs/stage2_context2_cpu/model.safetensors
  train stage2 stage2_scale_holdout --init runs/stage2_context2_edges_cpu/model.safetensors \
    --out-dir runs/context2edges_holdout
  train fusion fusion_scale --init runs/context2edges_holdout/model.safetensors --out-dir runs/context2edges_fusion
  ship runs/context2edges_holdout/model.safetensors runs/context2edges_fusion/hole_fusion.safetensors
}

# The fused 7-Scenes reference, the raw-error heads' labels (step 5), built first when missing: it needs open3d, and
# `perfecting-depth reference` says what to install before any training has run, not hours in.
reference() {
  local frames=0:1000
  [ "$SMOKE" = 1 ] && frames=0:4
  [ -f data_cache/7scenes_ref/quality.json ] || $PD reference --out data_cache/7scenes_ref --frames $frames
}

# The real runs read the 7-Scenes sequence: checked before the first run.
check_sequence() {
  local seq="${PERFECTING_DEPTH_REAL_DATA:-}/7scenes_redkitchen_kinect1"
  if [ -z "${PERFECTING_DEPTH_REAL_DATA:-}" ] || [ ! -f "$seq/poses_cam_to_world.txt" ]; then
    echo "the 7-Scenes sequence is not at $seq: set PERFECTING_DEPTH_REAL_DATA to the folder that holds" \
      "7scenes_redkitchen_kinect1 (../shared/data/real beside the checkout by default)" >&2
    return 2
  fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  WORK="$REPO"
  while [ $# -gt 0 ]; do
    case $1 in
      --work) WORK=$2; shift 2 ;;
      --ship) SHIP=$(mkdir -p "$2" && cd "$2" && pwd); shift 2 ;;
      --seed-offset) SEED_OFFSET=${2:-}; shift; [ $# -eq 0 ] || shift ;;
      --smoke) SMOKE=1; shift ;;
      *) echo "unknown argument: $1 (see the header of $0)" >&2; exit 2 ;;
    esac
  done
  [[ $SEED_OFFSET =~ ^[0-9]+$ ]] || { echo "--seed-offset takes a whole number, not '$SEED_OFFSET'" >&2; exit 2; }
  # the real frames: $PERFECTING_DEPTH_REAL_DATA or ../shared/data/real beside the checkout, made absolute before
  # the cd below (the package finds them from the working directory otherwise)
  real="${PERFECTING_DEPTH_REAL_DATA:-$REPO/../shared/data/real}"
  if [ -d "$real" ]; then export PERFECTING_DEPTH_REAL_DATA="$(cd "$real" && pwd)"; fi
  mkdir -p "$WORK"
  cd "$WORK"
  check_sequence || exit 2
  reference
  ship_synthetic
  ship_v2_holdout
  ship_heads_11
  ship_hole_bias_13
  ship_fusion_15
  ship_scale_49
  context_55
  context2_56
  ship_context2_edges_59
  echo "shipped into $SHIP"
fi
