#!/usr/bin/env python3
"""Choose between checkpoints without touching a test set: masked hold-out MAE on the 7-Scenes gap block
(frames 700-799, used neither for training nor for testing) and on the synthetic validation split.

  python scripts/validate_gap.py runs/stage2b/model.safetensors runs/stage2c/model.safetensors
"""

from __future__ import annotations

import json
import sys

import numpy as np

from perfecting_depth_ros.data.dataset import frame_at, load_shards
from perfecting_depth_ros.data.real import holdout_mask
from perfecting_depth_ros.data.sensors import SENSORS, simulate
from perfecting_depth_ros.enhancer import DepthEnhancer
from perfecting_depth_ros.evaluate.reference import GAP, load_sequence, read_frame


def main(paths: list[str]) -> int:
    d, _, _ = load_sequence()
    val = load_shards("data_cache/synth128", "val")
    for p in paths:
        enh = DepthEnhancer("learned", weights=p, backend="torch", model_width=320)
        gap = []
        for k, i in enumerate(list(GAP)[::10]):
            rgb, raw = read_frame(d, i)
            hide = holdout_mask(raw, np.random.default_rng(30_000 + k))
            out = enh.enhance(rgb, np.where(hide, 0, raw).astype(np.float32))
            gap.append(np.nanmean(np.abs(out.depth - raw)[hide]))
        enh_val = DepthEnhancer("learned", weights=p, backend="torch", model_width=160)
        syn = []
        for i in range(0, 200, 5):
            f = frame_at(val, i)
            raw = simulate(f, list(SENSORS)[i % 3], np.random.default_rng(40_000 + i))
            out = enh_val.enhance(f.rgb, raw)
            syn.append(np.nanmean(np.abs(out.depth - f.depth)))
        print(json.dumps({"weights": p, "gap_holdout_mae_m": float(np.mean(gap)), "synthetic_val_mae_m": float(np.mean(syn))}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
