#!/usr/bin/env python3
"""Cameras wider than 640 px: the hole fusion's bilateral fill at half the camera's resolution (as before the sixteenth
session) or at most 320 px wide, the scale it was fitted at (hole_fusion.classical_fill now). Scored on synthetic
frames rendered at 848x480, 1024x768 and 1280x720 (seeds 800-805, sensors in turn; no test split): the MAE and RMSE
of the rebuilt pixels and the time. Frames up to 640 px wide are not affected (bit-identical outputs, checked on the
real frames and on 240x320 frames).

  .venv/bin/python scripts/probe_wide_cameras.py > outputs/probe_wide_cameras.txt

Outcome (sixteenth session; outputs/probe_wide_cameras.txt), 848x480 / 1024x768 / 1280x720, six frames each:
rebuilt-pixel MAE 0.1221 / 0.1372 / 0.1232 m before against 0.1222 / 0.1363 / 0.1226 m capped (RMSE +0.6 / -0.1 /
-0.2 %); the fusion took 75 / 149 / 170 ms against 57 / 90 / 86 ms, the whole frame 146 / 277 / 280 against 134 / 205
/ 197 ms. Kept. The other step that grows with the camera, the hole detail (planar fills at camera resolution,
enhancer._hole_detail), was also tried at most 640 px wide and upsampled (a first run of this script had it as a third
variant): MAE 0.1226 / 0.1363 / 0.1213 m with the capped fill, post-processing 30 / 50 / 49 ms against 29 / 59 / 63:
worse and no faster at 848x480, so not kept.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import perfecting_depth_ros.hole_fusion as hf
from perfecting_depth_ros.data.sensors import SENSORS, simulate
from perfecting_depth_ros.data.world import render_random
from perfecting_depth_ros.enhancer import KEEP_GATE, DepthEnhancer
from perfecting_depth_ros.evaluate.baselines import JointBilateralFill

SIZES = ((480, 848), (768, 1024), (720, 1280))


def half_resolution_fill(rgb, kept_depth, diameters=hf.CLASSICAL_DIAMETERS):
    """The fusion's fill as before: half the camera's resolution at any size."""
    return JointBilateralFill(diameters=tuple(diameters)).fill_local(rgb, kept_depth)


def main() -> int:
    enh = DepthEnhancer()
    capped_fill = hf.classical_fill
    for h, w in SIZES:
        for name, fill in (("camera resolution (before)", half_resolution_fill), ("capped at 320 px", capped_fill)):
            hf.classical_fill = fill
            err, ms = [], []
            for i in range(6):
                f = render_random(800 + i, h, w)
                raw = simulate(f, list(SENSORS)[i % 3], np.random.default_rng(i))
                enh.enhance(f.rgb, raw)  # warm
                t = time.perf_counter()
                out = enh.enhance(f.rgb, raw)
                ms.append(((time.perf_counter() - t) * 1e3, out.timings["fusion_ms"]))
                rebuilt = ~((out.raw_reliability > KEEP_GATE) & (raw > 0)) & (f.depth > 0)
                err.append(np.abs(out.depth - f.depth)[rebuilt])
            e = np.concatenate(err)
            print(f"{w}x{h} {name}: rebuilt-pixel MAE {e.mean():.4f} m, RMSE {np.sqrt((e * e).mean()):.4f} m, median "
                  f"total {np.median([m[0] for m in ms]):.0f} ms, fusion {np.median([m[1] for m in ms]):.0f} ms",
                  flush=True)
        hf.classical_fill = capped_fill
    return 0


if __name__ == "__main__":
    sys.exit(main())
