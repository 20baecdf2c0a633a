#!/usr/bin/env python3
"""docs/real_panel.jpg: the shipped enhancer on real frames from five sensors, whole frames as the sensor gave them.

Each row: RGB | raw depth (black: missing) | enhanced (learned, shipped) | joint bilateral fill | the learned 1-sigma
(0 to 0.3 m); one depth colour scale per row, from the raw depth's 1st-99th percentile. Frames from
../shared/data/real (not shipped): NYU v2 and TUM (Kinect v1), SUN3D (Xtion), Azure Kinect, Kinect v2 and a 7-Scenes
test-block frame (never trained on nor used to choose anything). It also prints, per frame, the published 1-sigma of
the kept measurements and of the rebuilt pixels (what a ``max_sigma`` / ``depth_max_sigma`` threshold meets).

  .venv/bin/python scripts/real_panel.py [--out docs/real_panel.jpg]
"""

from __future__ import annotations

import argparse
import sys

import cv2
import numpy as np

from perfecting_depth_ros.data.real import real_frames
from perfecting_depth_ros.enhancer import KEEP_GATE, DepthEnhancer
from perfecting_depth_ros.io import colorize

FRAMES = ("nyu_labeled00050", "open3d_tum", "open3d_sun3d", "azure_kinect", "kinect2", "7scenes_000900")
ROW_H = 180
MAX_SIGMA = 0.3


def _tile(img: np.ndarray, label: str = "") -> np.ndarray:
    h, w = img.shape[:2]
    out = cv2.resize(img, (round(w * ROW_H / h), ROW_H), interpolation=cv2.INTER_AREA)
    if label:
        cv2.putText(out, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, label, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/real_panel.jpg")
    a = ap.parse_args(argv)
    frames = {f.name: f for f in real_frames()}
    learned, classical = DepthEnhancer(), DepthEnhancer("joint_bilateral")
    rows = []
    for name in FRAMES:
        f = frames[name]
        out, jb = learned.enhance(f.rgb, f.depth), classical.enhance(f.rgb, f.depth)
        kept = (out.raw_reliability > KEEP_GATE) & (f.depth > 0)
        sk, sr = out.uncertainty[kept], out.uncertainty[~kept]
        print(f"{name}: median depth {np.median(f.depth[f.depth > 0]):.2f} m; kept {kept.mean():.2f} of the pixels, "
              f"1-sigma median {np.median(sk):.3f} m, <= 0.1 / 0.3 / 0.5 m: {(sk <= 0.1).mean():.2f} / "
              f"{(sk <= 0.3).mean():.2f} / {(sk <= 0.5).mean():.2f}; rebuilt: median {np.median(sr):.3f} m, <= 0.3 / "
              f"0.5 m: {(sr <= 0.3).mean():.2f} / {(sr <= 0.5).mean():.2f}")
        ref = f.depth[f.depth > 0]
        lo, hi = float(np.percentile(ref, 1)), float(np.percentile(ref, 99))
        tiles = [_tile(f.rgb, f"{name} ({f.sensor})"), _tile(colorize(f.depth, lo, hi), "raw"),
                 _tile(colorize(out.depth, lo, hi), "enhanced"), _tile(colorize(jb.depth, lo, hi), "joint bilateral"),
                 _tile(colorize(out.uncertainty, 0.0, MAX_SIGMA, cv2.COLORMAP_MAGMA), f"1-sigma, 0-{MAX_SIGMA} m")]
        rows.append(np.concatenate(tiles, axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
    cv2.imwrite(a.out, np.concatenate(rows, axis=0)[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 88])
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
