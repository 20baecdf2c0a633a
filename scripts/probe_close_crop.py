#!/usr/bin/env python3
"""The near-hole cap's Navier-Stokes closing, cropped: the same values at the pixels it needs, at what cost?

``near_holes.cap_near_holes`` needs the joint bilateral fill closed by Navier-Stokes inpainting only at the pixels it
caps. Until the thirty-sixth session ``baselines.close_holes(within=...)`` inpainted the bounding box of every open
region (8-connected) those pixels lie in. A Kinect's registration border is one open region around the whole image,
so on such frames (NYU v2's raw Kinect frames) it inpainted the whole border band: 30-40 ms of a 640x480 frame on
2 cores. Now it
inpaints the box around the needed open pixels, with a margin of their greatest distance into the open region plus
``CLOSE_MARGIN_RADII`` inpainting radii. Inpainting marches in from the nearest filled pixels; this probe checks that
what the crop leaves out changes nothing at the needed pixels.

Frames: the real frames (every 20th 7-Scenes frame and the single frames of ../shared/data/real), the usual 45
validation frames of world v1 and of v2 (240x320), and 12 rendered 480x640 frames; each through the shipped
enhancer, whose every call of ``close_holes(within=...)`` is repeated with the previous code (below) and with fixed
margins (10, 20, 40 px instead of the adaptive one) for comparison.

  PYTHONPATH=scripts python scripts/probe_close_crop.py

Outcome (thirty-sixth session; 52 of the 160 frames had open pixels to close, 348 k of them): the adaptive margin
changed no value (largest difference 0.000 m) and took 0.48 s in all against 0.59 s; fixed margins of 10 / 20 / 40 px
changed values in 14 / 7 / 2 frames (506 / 299 / 195 pixels, up to 0.81 m), so the margin has to follow the depth
into the hole. Per real frame: NYU v2 raw frames 30-40 -> 3-9 ms, Azure Kinect 8 -> 4 ms, 7-Scenes frames level
(the regions they close are small, or the pixels needed span them).
"""

from __future__ import annotations

import time

import cv2
import numpy as np
from validate_gap import val_frames

from perfecting_depth_ros import DepthEnhancer
from perfecting_depth_ros.data.real import real_frames
from perfecting_depth_ros.data.sensors import simulate
from perfecting_depth_ros.data.world import render_random
from perfecting_depth_ros.evaluate import baselines as B

RADIUS = 5


def previous_close_within(filled: np.ndarray, within: np.ndarray) -> np.ndarray:
    """``close_holes(filled, within)`` as it was: the box of every open region (8-connected) that meets ``within``,
    with the radius plus 2 px as margin."""
    rest = ~(np.isfinite(filled) & (filled > 0))
    _, lab = cv2.connectedComponents(rest.astype(np.uint8), connectivity=8)
    hit = np.unique(lab[within & rest])
    hit = hit[hit > 0]
    if hit.size == 0:
        return filled
    ys, xs = np.nonzero(np.isin(lab, hit))
    m = RADIUS + 2
    box = (slice(max(ys.min() - m, 0), ys.max() + m + 1), slice(max(xs.min() - m, 0), xs.max() + m + 1))
    sub, open_ = filled[box], rest[box]
    if open_.all():
        return filled
    out = filled.astype(np.float32, copy=True)
    out[box] = np.where(open_, B._inpaint_mm(sub, open_, RADIUS, cv2.INPAINT_NS), sub)
    return out


def fixed_margin(filled: np.ndarray, within: np.ndarray, margin: int) -> np.ndarray:
    """The crop with a fixed margin around the needed open pixels."""
    rest = ~(np.isfinite(filled) & (filled > 0))
    ys, xs = np.nonzero(within & rest)
    box = (slice(max(ys.min() - margin, 0), ys.max() + margin + 1),
           slice(max(xs.min() - margin, 0), xs.max() + margin + 1))
    out = filled.astype(np.float32, copy=True)
    out[box] = np.where(rest[box], B._inpaint_mm(filled[box], rest[box], RADIUS, cv2.INPAINT_NS), filled[box])
    return out


def frames():
    for f in real_frames(sevenscenes_every=20):
        yield f.name, f.rgb, f.depth
    for v in (1, 2):
        for i, (f, raw, _) in enumerate(val_frames(v)):
            yield f"val v{v} {i}", f.rgb, raw
    for i in range(12):
        f = render_random(777_000 + i, 480, 640, version=1 + i % 2)
        sensor = ("kinect_v1", "realsense_d435", "azure_kinect")[i % 3]
        yield f"render {i}", f.rgb, simulate(f, sensor, np.random.default_rng(i))


def main() -> None:
    current = B.close_holes
    variants = {"adaptive (now)": lambda f, w: current(f, within=w)[0]}
    variants.update({f"fixed {m} px": (lambda f, w, m=m: fixed_margin(f, w, m)) for m in (10, 20, 40)})
    stats = {k: {"frames": 0, "frames_changed": 0, "px": 0, "px_changed": 0, "max_diff_m": 0.0, "s": 0.0}
             for k in variants}
    t_prev = [0.0]
    per_frame: list[str] = []
    name = [""]

    def compare(filled, within=None):
        if within is None:
            return current(filled)
        t = time.perf_counter()
        ref = previous_close_within(filled, within)
        t_prev[0] += (dt_prev := time.perf_counter() - t)
        need = within & ~(np.isfinite(filled) & (filled > 0))
        if need.any():
            for k, fn in variants.items():
                t = time.perf_counter()
                out = fn(filled, within)
                dt = time.perf_counter() - t
                diff = np.abs(np.nan_to_num(out[need], nan=-1.0) - np.nan_to_num(ref[need], nan=-1.0))
                s = stats[k]
                s["frames"] += 1
                s["frames_changed"] += int((diff > 0).any())
                s["px"] += int(need.sum())
                s["px_changed"] += int((diff > 0).sum())
                s["max_diff_m"] = max(s["max_diff_m"], float(diff.max()))
                s["s"] += dt
                if k == "adaptive (now)":
                    per_frame.append(f"{name[0]}: previous {dt_prev * 1e3:.1f} ms, now {dt * 1e3:.1f} ms, "
                                     f"{int(need.sum())} px, largest difference {diff.max():.4f} m")
        return current(filled, within=within)

    B.close_holes = compare  # near_holes imports it at each call
    try:
        enh = DepthEnhancer()
        n = 0
        for name[0], rgb, depth in frames():
            enh.enhance(rgb, depth)
            n += 1
    finally:
        B.close_holes = current
    print(f"{n} frames; the previous code's closing took {t_prev[0]:.2f} s in all")
    for k, s in stats.items():
        print(k, {key: round(v, 4) if isinstance(v, float) else v for key, v in s.items()})
    print("\n".join(line for line in per_frame if not line.startswith(("val", "render"))))


if __name__ == "__main__":
    main()
