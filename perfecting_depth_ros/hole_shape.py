"""Deep inside raw holes: the learned depth's level, a colour-guided fill's shape.

Far from every measurement the learned rebuild has steps no measurement backs: on the synthetic validation frames
about 600-1,000 of its depth-edge pixels a frame lie more than 4 px inside raw holes, 7-9 px from any true edge on
average, against about 200 for the colorization fill (Levin et al.; the NYU toolbox's fill), whose interpolation bends
only at colour edges. ``colour_shape`` keeps the learned depth's level there (a wide Gaussian of its log depth) and
takes the shape around that level from the colorization fill of the kept measurements (its log depth less the same
Gaussian of it), blending in from ``ramp[0]`` px to ``ramp[1]`` px from the nearest measurement (pixels at camera
resolution, scaled from 320 px wide). Measurements and pixels near them are untouched. Off in the enhancer
(``enhancer.HOLE_SHAPE_PX`` = 0): it sharpened the boundary accuracy on validation frames but cost real raw holes 3 %
against the fused 7-Scenes reference (rule and outcome: scripts/probe_hole_shape.py).
"""

from __future__ import annotations

import cv2
import numpy as np


def _low_log(depth: np.ndarray, sigma_px: float) -> np.ndarray:
    return cv2.GaussianBlur(np.log(np.maximum(depth, 1e-3)).astype(np.float32), (0, 0), sigma_px)


def colour_shape(final: np.ndarray, rgb: np.ndarray, depth: np.ndarray, kept_depth: np.ndarray, sigma_px: float,
                 ramp: tuple[float, float]) -> np.ndarray:
    """``final`` with its pixels deep inside raw holes (``depth`` <= 0, farther than ``ramp[0]`` px from every raw
    measurement) blended, fully from ``ramp[1]`` px, into the colorization fill of ``kept_depth`` (the measurements the
    enhancer keeps, 0 elsewhere) shifted in log depth to the level of ``final``: exp(low(log final) - low(log fill))
    x fill, ``low`` a Gaussian of ``sigma_px``. Widths are in ``final``'s pixels."""
    hole = ~(depth > 0)
    if not hole.any() or not (kept_depth > 0).any():
        return final
    dist = cv2.distanceTransform(hole.astype(np.uint8), cv2.DIST_L2, 3)
    w = np.clip((dist - ramp[0]) / max(ramp[1] - ramp[0], 1e-6), 0.0, 1.0).astype(np.float32)
    if not (w > 0).any():
        return final
    from .evaluate.baselines import ColorizationFill

    fill = ColorizationFill().fill(rgb, kept_depth)[0]
    if not np.isfinite(fill).all():  # no measurement to pin it: nothing to take the shape from
        return final
    shaped = fill * np.exp(_low_log(final, sigma_px) - _low_log(fill, sigma_px))
    return np.where(w > 0, (1 - w) * final + w * shaped, final).astype(np.float32)
