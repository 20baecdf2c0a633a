#!/usr/bin/env bash
# Reproduce the shipped weights from scratch and every experiment beside them, in the order they were run: render
# data, train stage 1, distil, train stage 2, ..., and copy the result into the package with its manifest. Seeded;
# see the model card for figures. The shipped weights alone: scripts/reproduce_shipped.sh, whose steps (ship_*) this
# script calls where they were run.
# The shipped weights were trained on 2-core CPUs: configs say `device: auto`, so on a machine with a GPU the same
# steps run there and give equivalent, not bit-identical, weights (hide the GPU, CUDA_VISIBLE_DEVICES=, for those).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/reproduce_shipped.sh
# the 7-Scenes fused reference first: the heads' labels, and the experiments that read it run only where it exists
reference
# stage 1, distillation, the seven stage-2 schedules, and the raw-error head (light output path, glass/mirror frames
# twice) on top of them, everything else frozen (shipped until the seventh session)
ship_synthetic
# the refiner fine-tuned on world-v2 frames and, self-supervised, on real Kinect v1 raw depth (7-Scenes frames
# 0-699 from ../shared/data/real: blobs of valid raw hidden, the hidden raw the target); its step 600 is shipped
ship_v2_holdout
bash scripts/ship_weights.sh runs/stage2_v2_holdout/model_step600.safetensors  # shipped until the eleventh session
# (since the eleventh session the shipped head is the average of two real-label head fine-tunes: end of this script)
# Experiment (not shipped): stage 2 fine-tuned on real 7-Scenes frames 0-699 against the fused reference
# (needs `perfecting-depth reference` first). Its effect is reported in the model card.
if [ -f data_cache/7scenes_ref/quality.json ]; then $PD train stage2 --config config/train/stage2_real.yaml; fi
# Experiments (not shipped): the first head (heavier full-resolution output path; too slow), the light head
# without hard_weight, and the head's second round (context branch, full frames); reported in the model card.
$PD train errorhead --config config/train/errorhead.yaml --init runs/stage2g/model.safetensors
$PD train errorhead --config config/train/errorhead_light.yaml --init runs/stage2g/model.safetensors
[ -f data_cache/synth240/train-0002.npz ] || $PD data --out data_cache/synth240 --split train --frames 1200 --size 240x320 --crop-of ''
$PD train errorhead --config config/train/errorhead_ctx.yaml --init runs/stage2g/model.safetensors
# Experiments (not shipped): the refiner fine-tuned on whole 240x320 frames, and the shipped head fine-tuned on
# whole frames, both warm-started from the shipped weights; reported in the model card and in their configs.
$PD train stage2 --config config/train/stage2_full.yaml
$PD train errorhead --config config/train/errorhead_light_full.yaml
$PD train stage2 --config config/train/stage2_mixed.yaml
$PD train stage2 --config config/train/stage2_mixed_hard.yaml
# Experiments of the seventh session (not shipped): the real hold-out half with world-v1 frames, and the raw-error
# head fine-tuned on world-v2 frames on top of the shipped refiner; reported in the model card and their configs.
$PD train stage2 --config config/train/stage2_holdout.yaml
$PD train errorhead --config config/train/errorhead_v2.yaml --init runs/stage2_v2_holdout/model_step600.safetensors
if [ -f data_cache/7scenes_ref/quality.json ]; then $PD train errorhead --config config/train/errorhead_real.yaml; fi
# Experiments of the eighth session: the sensor's max range as a refiner input, then with an out-of-range output
# (shared head, soft lift; scored again with the hard lift), then with its own branch (hard lift); outcomes in
# their configs and the model card.
$PD train stage2 --config config/train/stage2_range.yaml
$PD train stage2 --config config/train/stage2_range_far.yaml
for s in 300 600 900 1200; do
  .venv/bin/python scripts/set_model_config.py runs/stage2_range_far/model_step$s.safetensors \
    runs/stage2_range_far_hard/model_step$s.safetensors far_lift=hard
done
$PD train stage2 --config config/train/stage2_range_branch.yaml
# the branch's lift threshold calibrated on frames of its own (Platt p > 0.5, then precision 0.95); not shipped
for s in 300 600 900 1200; do
  .venv/bin/python scripts/calibrate_far.py runs/stage2_range_branch/model_step$s.safetensors \
    runs/stage2_range_branch_cal/model_step$s.safetensors
  .venv/bin/python scripts/calibrate_far.py runs/stage2_range_branch/model_step$s.safetensors \
    runs/stage2_range_branch_p95/model_step$s.safetensors --precision 0.95
done
# the branch alone on top of the shipped model, glass holes as hard negatives, calibrated; not shipped
$PD train farbranch --config config/train/farbranch_glass.yaml
for s in 200 400 600; do
  .venv/bin/python scripts/calibrate_far.py runs/farbranch_glass/model_step$s.safetensors \
    runs/farbranch_glass_cal/model_step$s.safetensors
done
# Experiments of the ninth session (none shipped; outcomes in their configs and the model card):
# the same branch with the lift by the calibrated probability, or moving no depth and widening sigma only;
for s in 200 400 600; do
  .venv/bin/python scripts/calibrate_far.py runs/farbranch_glass/model_step$s.safetensors \
    runs/farbranch_glass_soft/model_step$s.safetensors --lift soft --sigma
  .venv/bin/python scripts/calibrate_far.py runs/farbranch_glass/model_step$s.safetensors \
    runs/farbranch_glass_none/model_step$s.safetensors --lift none --sigma
done
# the published sigma's size refitted on calibration frames (the ninth session's grid search; the script now searches
# shapes with a guard on each, so a re-run differs);
.venv/bin/python scripts/calibrate_sigma.py runs/stage2_v2_holdout/model_step600.safetensors runs/sigma_cal/shipped.safetensors
# a colour-guided hole fill as refiner inputs, then as the refiner's base;
.venv/bin/python scripts/probe_colour_fill.py --json outputs/probe_colour_fill_session9.json
$PD train stage2 --config config/train/stage2_colour.yaml
.venv/bin/python scripts/set_model_config.py runs/stage2_v2_holdout/model_step600.safetensors runs/colour_base/shipped.safetensors refiner_base=colour
for s in 300 1200; do
  .venv/bin/python scripts/set_model_config.py runs/stage2_colour/model_step$s.safetensors \
    runs/colour_base/colour_step$s.safetensors refiner_base=colour
done
# the range per pixel relative to the classical fill, alone and with world-v1 windows every third batch.
$PD train stage2 --config config/train/stage2_range_rel.yaml
$PD train stage2 --config config/train/stage2_range_rel_mixed.yaml
# Experiments of the tenth session (none shipped; outcomes in their configs and scripts/calibrate_sigma.py):
# the raw-error head on every source at once (world v1, world v2, real reference labels), 3000 steps;
# (its errorhead_mixed_long run is in ship_heads_11 below, which builds the fused reference first)
if [ -f data_cache/7scenes_ref/quality.json ]; then
  # the published sigma fitted on synthetic and real-reference frames, shape and size, then size alone.
  .venv/bin/python scripts/calibrate_sigma.py runs/stage2_v2_holdout/model_step600.safetensors \
    runs/sigma_cal_real/shipped.safetensors --real --cache=runs/sigma_cal_real/shipped_cols.npz
  .venv/bin/python scripts/calibrate_sigma.py runs/stage2_v2_holdout/model_step600.safetensors \
    runs/sigma_cal_real/size_only.safetensors --real --size-only --cache=runs/sigma_cal_real/shipped_cols.npz
fi
# Experiments of the eleventh session (outcomes in the config and in each probe's docstring): the mixed-source head
# with a fresh seed under a rule that trades a little synthetic ranking for real ranking (not shipped); probes of
# post-processing on validation frames: a Navier-Stokes blend in holes and a local clip (not adopted), the hole
# sigma widened by the stray past nearby measurements (adopted: enhancer.STRAY_WINDOW, no weights change).
# (errorhead_mixed_trade: in ship_heads_11 below)
PYTHONPATH=scripts .venv/bin/python scripts/probe_hole_blend.py --out outputs/probe_hole_blend_session11.json
PYTHONPATH=scripts .venv/bin/python scripts/probe_local_window.py > outputs/probe_local_window_session11.jsonl
PYTHONPATH=scripts .venv/bin/python scripts/probe_stray_sigma.py --out outputs/probe_stray_sigma_session11.json
# The shipped weights since the eleventh session: stage2_v2_holdout step 600 with its raw-error head replaced by the
# average of errorhead_mixed_long step 3000 and errorhead_mixed_trade step 1500 (both trained above from it, with real
# 7-Scenes labels from the fused reference; rule and figures in scripts/average_heads.py and the model card).
ship_heads_11
bash scripts/ship_weights.sh runs/head_soup/mixed_53_59.safetensors
# Experiment (not shipped): a third head seed and the three-way average (outcome in its config).
if [ -f data_cache/7scenes_ref/quality.json ]; then
  $PD train errorhead --config config/train/errorhead_mixed_seed61.yaml
  .venv/bin/python scripts/average_heads.py runs/head_soup/mixed_53_59_61.safetensors \
    runs/errorhead_mixed_long/model_step3000.safetensors runs/errorhead_mixed_trade/model_step1500.safetensors \
    runs/errorhead_mixed_seed61/model_step1500.safetensors
fi
# Twelfth session (not shipped unless its config says so): the refiner fine-tuned with real hold-out blobs drawn
# toward raw holes, and with random textures over the synthetic RGB (rules and outcomes in the configs); probes of
# post-processing on validation frames (scripts/probe_range_clip.py, scripts/probe_hole_smooth.py; the adopted
# smoothing is enhancer.HOLE_SMOOTH_*, no weights change).
PYTHONPATH=scripts .venv/bin/python scripts/probe_range_clip.py > outputs/probe_range_clip_session12.jsonl
PYTHONPATH=scripts .venv/bin/python scripts/probe_hole_smooth.py > outputs/probe_hole_smooth_r1.jsonl
PYTHONPATH=scripts .venv/bin/python scripts/probe_hole_smooth.py --round 2 > outputs/probe_hole_smooth_r2.jsonl
PYTHONPATH=scripts .venv/bin/python scripts/probe_hole_smooth.py --round 3 > outputs/probe_hole_smooth_r3.jsonl
# (stage2_hole_bias itself: in ship_hole_bias_13 below)
$PD train stage2 --config config/train/stage2_texture.yaml
$PD train stage2 --config config/train/stage2_mixed_texture.yaml
$PD train stage2 --config config/train/stage2_hole_bias_long.yaml
# Thirteenth session: deep-hole smoothing (adopted: enhancer.HOLE_DEEP_*, no weights change), then two raw-error
# heads fitted on top of stage2_hole_bias's step-300 refiner and their average, which is shipped since (rules and
# figures in scripts/average_heads.py; rule 2 was scored on validate_gap.py --third).
PYTHONPATH=scripts .venv/bin/python scripts/probe_deep_smooth.py > outputs/probe_deep_smooth.jsonl
PYTHONPATH=scripts .venv/bin/python scripts/probe_deep_smooth.py --fresh --only=off,A >> outputs/probe_deep_smooth.jsonl
ship_hole_bias_13
# Experiment (not shipped): scaled-down worlds for holes below the sensor's minimum range (outcome in its config).
$PD train stage2 --config config/train/stage2_near.yaml
$PD train stage2 --config config/train/stage2_near_mixed.yaml
# Fourteenth session: a colour-guided side choice at depth edges (scripts/probe_edge_side.py; not adopted, off in
# enhancer.EDGE_SIDE_PX) and a refiner fine-tune without mirrored windows (not shipped); outcomes in each file.
PYTHONPATH=scripts .venv/bin/python scripts/probe_edge_side.py > outputs/probe_edge_side.jsonl
$PD train stage2 --config config/train/stage2_noflip.yaml
# A 9000-step raw-error head continued from the shipped one (rule and outcome in its config).
$PD train errorhead --config config/train/errorhead_xl.yaml
# The 7-Scenes colour registration (data.real.SEVENSCENES_RGB_TO_DEPTH holds the printed fit), then a refiner
# fine-tune on the registered real frames (not shipped; outcome in its config).
.venv/bin/python scripts/fit_7scenes_registration.py
$PD train stage2 --config config/train/stage2_registered.yaml
$PD train stage2 --config config/train/stage2_registered_long.yaml
# Fifteenth session: the hole fusion (hole_fusion.py), fitted on the shipped model's outputs and shipped beside it
# (rule and outcome in its config; outputs/validate_fusion.jsonl).
ship_fusion_15
# Experiment (not shipped; outcome in config/train/fusion.yaml): the hole fusion on twice the data.
$PD train fusion --config config/train/fusion_more.yaml
# Diagnosis (no weights): where the fills go wrong in the sensor's own raw holes (outcome in the script).
[ -f data_cache/7scenes_ref_train/quality.json ] || $PD reference --out data_cache/7scenes_ref_train --frames 0:700
for s in gap train test; do .venv/bin/python scripts/probe_raw_holes.py $s; done > outputs/probe_raw_holes.txt
# Sixteenth session, experiment (not shipped; outcome in config/train/fusion.yaml): the fusion with progressive
# 5-9-9 bilateral windows (faster at 640x480), scored against the shipped fit on the usual validation set.
$PD train fusion --config config/train/fusion_progressive.yaml
W=perfecting_depth_ros/weights/perfecting_depth.safetensors
for F in auto runs/fusion_progressive/hole_fusion.safetensors; do
  .venv/bin/python scripts/validate_gap.py $W --fusion=$F --blob-seed 32000
  .venv/bin/python scripts/validate_gap.py $W --fusion=$F --world-version 2
done > outputs/validate_fusion_progressive.jsonl
# Sixteenth session (no weights): probes on validation frames, and the near-hole cap's rule on the seventh set
# (near_holes.py, on by default since; outcomes in each script's docstring).
PYTHONPATH=scripts .venv/bin/python scripts/probe_keep_gate.py > outputs/probe_keep_gate.txt
PYTHONPATH=scripts .venv/bin/python scripts/probe_near_holes.py > outputs/probe_near_holes.txt
for nc in 0 1.15; do
  .venv/bin/python scripts/validate_gap.py $W --seventh --near-cap=$nc --blob-seed 68000
  .venv/bin/python scripts/validate_gap.py $W --seventh --near-cap=$nc --world-version 2
done > outputs/validate_near_cap_seventh.jsonl
.venv/bin/python scripts/probe_wide_cameras.py > outputs/probe_wide_cameras.txt
# Seventeenth session (no weights): probes on validation frames (outcomes in each script's docstring).
for a in "--set=0" "--set=1" "--set=3" "--set=0 --world-version 2" "--set=1 --world-version 2" "--set=3 --world-version 2"; do
  PYTHONPATH=scripts .venv/bin/python scripts/probe_near_fill.py $a
done > outputs/probe_near_fill.txt
PYTHONPATH=scripts .venv/bin/python scripts/probe_wrong_cues.py > outputs/probe_wrong_cues.txt
PYTHONPATH=scripts .venv/bin/python scripts/probe_sigma_scale.py > outputs/probe_sigma_scale.txt
# Eighteenth to forty-eighth sessions: experiments and probes, none shipped (each config and script names its command
# and outcome; docs/history.md). Thirtieth to forty-ninth sessions: the refiner trained at scale, shipped in the
# forty-ninth (rule and outcome in config/train/stage2_scale2_cpu.yaml); grown by a context level and trained on new
# frames in the fifty-fifth (config/train/stage2_context_cpu.yaml), by a 1/16 level below that and trained on more new
# frames in the fifty-sixth (config/train/stage2_context2_cpu.yaml), trained on more new frames with a small real share
# and its depth edges held in the fifty-ninth (config/train/stage2_context2_edges_cpu.yaml).
ship_scale_49
context_55
context2_56
ship_context2_edges_59
