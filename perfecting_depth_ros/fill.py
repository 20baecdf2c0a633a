"""Planar hole fill in numpy/OpenCV: the twin of the fill inside the exported graph
(:func:`perfecting_depth_ros.model.refiner.planar_fill`, which takes its windows from here), used for
the camera-resolution hole detail. First-order normalised convolution (Knutsson & Westin): a
weighted least-squares plane per window, so walls, floors and table tops are filled exactly.
"""

from __future__ import annotations

import cv2
import numpy as np


def _grid(depth: np.ndarray, cell: int) -> tuple[np.ndarray, np.ndarray]:
    H, W = depth.shape
    valid = depth > 0
    size = (max(1, W // cell), max(1, H // cell))
    m0 = cv2.resize(valid.astype(np.float32), size, interpolation=cv2.INTER_AREA)
    s0 = cv2.resize(np.where(valid, depth, 0).astype(np.float32), size, interpolation=cv2.INTER_AREA)
    d0 = np.where(m0 > 0, s0 / np.maximum(m0, 1e-6), 0).astype(np.float32)
    return m0, d0


PLANAR_SCALES = ((8, 15), (4, 15), (2, 15), (2, 7), (2, 3))  # (cell px, window cells), coarse to fine
SUPPORT = 0.05  # a window is fully trusted from 5 % valid cells


def _taps(k: int, p: int) -> np.ndarray:
    u = np.arange(k, dtype=np.float32) / (k // 2) - 1.0  # offsets in window half-widths, -1..1
    return (u ** p / k).astype(np.float32)


def _plane_at_centre(m: np.ndarray, d: np.ndarray, k: int, ridge: float) -> np.ndarray:
    def sep(x, ph, pv):
        return cv2.sepFilter2D(x, -1, _taps(k, ph), _taps(k, pv), borderType=cv2.BORDER_CONSTANT)

    md = m * d
    s, su, sv = sep(m, 0, 0), sep(m, 1, 0), sep(m, 0, 1)
    suu, svv, suv = sep(m, 2, 0), sep(m, 0, 2), sep(m, 1, 1)
    sd, sdu, sdv = sep(md, 0, 0), sep(md, 1, 0), sep(md, 0, 1)
    p, r, q = suu + ridge * s, svv + ridge * s, suv
    c00, c01, c02 = p * r - q * q, su * r - q * sv, su * q - p * sv
    det = s * c00 - su * c01 + sv * c02  # Cramer's rule for the intercept of the 3 x 3 normal equations
    num = sd * c00 - su * (sdu * r - q * sdv) + sv * (sdu * q - p * sdv)
    return num / np.maximum(det, 1e-12), np.clip(s / SUPPORT, 0, 1)


def planar_fill(depth: np.ndarray, fallback: np.ndarray,
                scales: tuple[tuple[int, int], ...] = PLANAR_SCALES, ridge: float = 0.02) -> np.ndarray:
    """Hole fill by first-order normalised convolution; the numpy twin of
    :func:`perfecting_depth_ros.model.refiner.planar_fill` (same windows, same cell grids).

    For each window, coarse to fine, a weighted least-squares plane through the valid cells,
    evaluated at the window centre (``ridge`` shrinks the slope where support is thin); ``scales``
    are (cell px, window cells). ``fallback`` where no window has support; valid pixels kept.
    H and W should be multiples of the largest cell.
    """
    H, W = depth.shape
    fine = min(c for c, _ in scales)
    gh, gw = H // fine, W // fine
    if gh == 0 or gw == 0:  # thinner than one cell (a strip of an image): no window to fit, the fallback fills
        return np.where(depth > 0, depth, fallback).astype(np.float32)
    fill = cv2.resize(fallback.astype(np.float32), (gw, gh), interpolation=cv2.INTER_AREA)
    grids = {c: _grid(depth, c) for c in {c for c, _ in scales}}  # several windows share a cell grid
    for cell, k in scales:
        m, d = grids[cell]
        est, a = _plane_at_centre(m, d, k, ridge)
        if cell != fine:
            est = cv2.resize(est, (gw, gh), interpolation=cv2.INTER_LINEAR)
            a = cv2.resize(a, (gw, gh), interpolation=cv2.INTER_LINEAR)
        fill = a * est + (1 - a) * fill
    return np.where(depth > 0, depth, cv2.resize(fill.astype(np.float32), (W, H),
                                                 interpolation=cv2.INTER_LINEAR)).astype(np.float32)
