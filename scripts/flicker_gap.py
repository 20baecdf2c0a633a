#!/usr/bin/env python3
"""Frame-to-frame flicker on the 7-Scenes gap block (frames 700-799, every 5th, validation only): each frame's
output is warped into the next frame with the known poses and compared with the next frame's output (changes
over 10 cm, disocclusions, are left out), over all pixels and over the next frame's raw holes. Compares the
learned model's noise modes (``DepthEnhancer(noise=...)``) with Navier-Stokes inpainting.

  python scripts/flicker_gap.py [WEIGHTS.safetensors]
"""

from __future__ import annotations

import json
import sys

import numpy as np

from perfecting_depth_ros.enhancer import DepthEnhancer
from perfecting_depth_ros.evaluate.reference import GAP, KINECT_V1_RANGE_M, frame_change, load_sequence, read_frame


def flicker(enh: DepthEnhancer, seq) -> dict:
    d, K, poses = seq
    all_px, holes = [], []
    for i in list(GAP)[::5]:
        rgb, raw = read_frame(d, i)
        rgb2, raw2 = read_frame(d, i + 1)
        a, b = (enh.enhance(x, y, max_range_m=KINECT_V1_RANGE_M).depth for x, y in ((rgb, raw), (rgb2, raw2)))
        all_px.append(frame_change(a, b, K, poses[i], poses[i + 1]))
        holes.append(frame_change(a, b, K, poses[i], poses[i + 1], where=raw2 <= 0))
    return {"flicker_mm": float(np.nanmean(all_px) * 1000), "flicker_raw_holes_mm": float(np.nanmean(holes) * 1000)}


def main(args: list[str]) -> int:
    seq = load_sequence()
    weights = args[0] if args else None
    for mode in ("fixed", "fresh"):
        enh = DepthEnhancer("learned", weights=weights, backend="onnxruntime", noise=mode)
        print(json.dumps({"method": "learned", "noise": mode, **flicker(enh, seq)}), flush=True)
    print(json.dumps({"method": "inpaint_ns", **flicker(DepthEnhancer("inpaint_ns"), seq)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
