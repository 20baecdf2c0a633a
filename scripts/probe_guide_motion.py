#!/usr/bin/env python3
"""A moving robot: how the learned enhancer and the classical fills do when the colour guide is displaced from the
depth (colour and depth exposed a few ms apart, matched within the node's ``slop``, while the camera turns) or blurred
by the motion. Diagnosis only: nothing is chosen on it; the README's "Before relying on it" quotes it.

``--kind shift`` moves the guide sideways by the level in px of a 640 px wide image (scaled to the frame's width;
borders repeated); ``--kind blur`` smears it with a horizontal line kernel that long. A camera turning at 30 degrees a
second, with colour and depth 20 ms apart, shifts a 640 px wide image of 60 degrees field of view by about 6 px. The
sets and figures are scripts/probe_low_light.py's (``--set choose``: the 7-Scenes gap block and synthetic validation
frames; ``--set real``: the benchmark's 18 real frames).

Outcome (forty-fifth session; outputs/probe_guide_*.txt, not shipped), at 0 / 2 / 4 / 8 / 16 px. Shifted: the learned
enhancer's gap blobs 14.78 / 14.54 / 14.64 / 14.89 / 17.31 mm, synthetic RMSE 0.3909 / 0.3927 / 0.3975 / 0.4014 /
0.4036 m; joint bilateral 16.33 / 16.29 / 16.41 / 16.61 / 20.42 mm; Navier-Stokes (no guide) 19.24 mm. The 18 real
frames (10 test frames): learned 33.1 / 32.6 / 33.1 / 35.0 / 36.5 mm (41.9 / 40.8 / 41.4 / 44.2 / 45.1), joint
bilateral 35.5 / 34.4 / 34.6 / 38.4 / 42.6 (44.5 / 42.2 / 42.7 / 47.6 / 52.6), Navier-Stokes 37.9 (45.4). A few px
cost nothing (the 7-Scenes colour's own registration leaves a few px of parallax; 2 px even helps some frames), 8 px
costs 6 %, 16 px 10 %, which leaves the learned fill level with Navier-Stokes on the test frames. Smeared: gap blobs
14.78 / 14.69 / 14.70 / 14.58 / 14.57 mm, synthetic RMSE 0.3909 / 0.3909 / 0.3910 / 0.3926 / 0.3957 m; real frames
33.1 / 33.0 / 32.8 / 32.6 / 33.3 mm (41.9 / 41.8 / 41.3 / 41.1 / 42.3): motion blur of the colour does not matter.

  .venv/bin/python scripts/probe_guide_motion.py --set choose --kind shift > outputs/probe_guide_shift_choose.txt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_low_light import run_choose, run_real  # noqa: E402


def shift(rgb: np.ndarray, px: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """``rgb`` moved right by ``px`` at 640 px wide (scaled to its width), borders repeated."""
    dx = px * rgb.shape[1] / 640.0
    if dx == 0:
        return rgb
    m = np.float32([[1, 0, dx], [0, 1, 0]])
    return cv2.warpAffine(rgb, m, (rgb.shape[1], rgb.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def smear(rgb: np.ndarray, px: float, rng: np.random.Generator | None = None) -> np.ndarray:
    """``rgb`` blurred along its rows by a line ``px`` long at 640 px wide (scaled to its width)."""
    n = int(round(px * rgb.shape[1] / 640.0))
    if n <= 1:
        return rgb
    return cv2.filter2D(rgb, -1, np.full((1, n), 1.0 / n, np.float32), borderType=cv2.BORDER_REPLICATE)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--set", choices=("choose", "real"), default="choose")
    ap.add_argument("--kind", choices=("shift", "blur"), default="shift")
    ap.add_argument("--levels", default="0,2,4,8,16")
    ap.add_argument("--classical", default="joint_bilateral,inpaint_ns")
    args = ap.parse_args()
    levels = [float(x) for x in args.levels.split(",")]
    classical = [c for c in args.classical.split(",") if c]
    degrade = shift if args.kind == "shift" else smear
    (run_choose if args.set == "choose" else run_real)(levels, ["none"], classical, degrade=degrade)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
