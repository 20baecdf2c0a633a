"""Dark screens painted into synthetic frames: a television or a monitor that a depth sensor does not see.

A dark, glossy screen on a wall returns no depth to a structured-light or time-of-flight camera, and leaves a hole
whose truth is the wall's plane (the 7-Scenes test block's television, frames 860 and 870). ``paint_screen`` puts
such a screen on a flat patch of a rendered frame: the colour a dark grey with a faint gradient, the raw depth
dropped, the truth unchanged. scripts/probe_screens.py scores the fills in them.
"""

from __future__ import annotations

import numpy as np

KINDS = ("inside", "top", "large")


def paint_screen(rgb: np.ndarray, depth: np.ndarray, raw: np.ndarray, rng: np.random.Generator, kind: str = "inside",
                 scale: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """(rgb, raw, mask) with a dark screen over a flat patch of the truth ``depth`` (a plane fits it to 1 %), or None
    when 40 tries find no such patch. ``kind``: "inside" (50-120 x 40-90 px, anywhere), "top" (90-180 x 50-110 px,
    touching the top edge) or "large" (as large as "top", 1 px or more off every edge); sizes for 320x240 frames,
    times ``scale`` (a training window of 160x128 px: 0.5)."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    H, W = raw.shape

    def side(lo: int, hi: int) -> int:
        return int(rng.integers(max(2, round(lo * scale)), max(3, round(hi * scale))))

    for _ in range(40):
        big = kind in ("top", "large")
        h, w = (side(50, 110), side(90, 180)) if big else (side(40, 90), side(50, 120))
        if h >= H - 2 or w >= W - 2:
            continue
        if kind == "large":
            y, x = rng.integers(1, H - h - 1), rng.integers(1, W - w - 1)
        else:
            y, x = (0 if kind == "top" else rng.integers(0, H - h)), rng.integers(0, W - w)
        gt = depth[y:y + h, x:x + w]
        if not np.all(np.isfinite(gt)) or gt.min() <= 0:
            continue
        yy, xx = np.mgrid[:h, :w]
        A = np.c_[yy.ravel(), xx.ravel(), np.ones(h * w)]
        coef, *_ = np.linalg.lstsq(A, gt.ravel(), rcond=None)
        if np.abs(A @ coef - gt.ravel()).max() <= 0.01 * gt.mean():
            break
    else:
        return None
    out = rgb.copy()
    out[y:y + h, x:x + w] = np.clip(np.linspace(15, 35, w)[None, :, None] + rng.normal(0, 2, (h, w, 1)), 0,
                                    255).astype(np.uint8)
    r = raw.copy()
    r[y:y + h, x:x + w] = 0
    m = np.zeros(raw.shape, bool)
    m[y:y + h, x:x + w] = True
    return out, r, m
