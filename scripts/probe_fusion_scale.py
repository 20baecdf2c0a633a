#!/usr/bin/env python3
"""The hole fusion on cameras wider than 640 px: its bilateral fill at half the camera's resolution (as before the
sixteenth session) or at most 320 px wide (hole_fusion.classical_fill now), on synthetic frames rendered at 848x480,
1024x768 and 1280x720 (seeds 800-805, sensors in turn; validation-style frames, no test split). Frames up to 640 px
wide are not affected (bit-identical outputs, checked on the real frames and on 240x320 frames).

  .venv/bin/python scripts/probe_fusion_scale.py > outputs/probe_fusion_scale.txt

Outcome (sixteenth session; outputs/probe_fusion_scale.txt), 848x480 / 1024x768 / 1280x720, six frames each:
rebuilt-pixel MAE 0.1221 / 0.1372 / 0.1232 m at half resolution against 0.1222 / 0.1363 / 0.1226 m capped (RMSE
+0.6 / -0.1 / -0.2 %), while the fusion took 75 / 146 / 171 ms against 57 / 90 / 88 ms (the whole frame 150 / 273 / 279
against 132 / 207 / 196 ms): the capped fill is kept; its windows span the share of the scene they were fitted at.
"""

from __future__ import annotations

import sys
import time

import numpy as np

import perfecting_depth_ros.hole_fusion as hf
from perfecting_depth_ros.data.sensors import SENSORS, simulate
from perfecting_depth_ros.data.world import render_random
from perfecting_depth_ros.enhancer import DepthEnhancer
from perfecting_depth_ros.evaluate.baselines import JointBilateralFill

SIZES = ((480, 848), (768, 1024), (720, 1280))


def half_resolution_fill(rgb, kept_depth, diameters=hf.CLASSICAL_DIAMETERS):
    """The fill as before: half the camera's resolution at any size."""
    return JointBilateralFill(diameters=tuple(diameters)).fill_local(rgb, kept_depth)


def main() -> int:
    enh = DepthEnhancer()
    capped_fill = hf.classical_fill
    for h, w in SIZES:
        res = {}
        for name, fill in (("half resolution", half_resolution_fill), ("capped at 320 px", capped_fill)):
            hf.classical_fill = fill
            err, ms = [], []
            for i in range(6):
                f = render_random(800 + i, h, w)
                raw = simulate(f, list(SENSORS)[i % 3], np.random.default_rng(i))
                enh.enhance(f.rgb, raw)  # warm
                t = time.perf_counter()
                out = enh.enhance(f.rgb, raw)
                ms.append(((time.perf_counter() - t) * 1e3, out.timings["fusion_ms"]))
                rebuilt = ~((out.raw_reliability > 0.5) & (raw > 0)) & (f.depth > 0)
                err.append(np.abs(out.depth - f.depth)[rebuilt])
            e = np.concatenate(err)
            res[name] = e
            print(f"{w}x{h} {name}: rebuilt-pixel MAE {e.mean():.4f} m, RMSE {np.sqrt((e * e).mean()):.4f} m, median "
                  f"total {np.median([m[0] for m in ms]):.0f} ms, fusion {np.median([m[1] for m in ms]):.0f} ms",
                  flush=True)
        hf.classical_fill = capped_fill
    return 0


if __name__ == "__main__":
    sys.exit(main())
