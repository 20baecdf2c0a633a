"""Per-frame scale-shift normalisation of depth to about [-1, 1] (range-agnostic model)."""

from __future__ import annotations

import numpy as np

LOW_PERCENTILE, HIGH_PERCENTILE = 2.0, 98.0


def depth_stats(depth: np.ndarray, valid: np.ndarray) -> tuple[float, float]:
    """Robust (shift, scale) from valid depth: the 2nd/98th percentiles map to -1/+1.

    The scale never drops below 10 % of the far percentile (+5 cm), so a flat wall does not blow up
    sensor noise. Raises ``ValueError`` when fewer than 16 pixels are valid.
    """
    v = depth[valid]
    if v.size < 16:
        raise ValueError(f"too few valid depth pixels to normalise ({v.size}); need at least 16")
    lo, hi = np.percentile(v, [LOW_PERCENTILE, HIGH_PERCENTILE])
    scale = max(float(hi - lo), 0.1 * float(hi) + 0.05)
    centre = 0.5 * float(lo + hi)
    return centre, scale


def normalize(depth: np.ndarray, centre: float, scale: float) -> np.ndarray:
    """Metres to normalised units: (d - centre) * 2 / scale."""
    return ((depth - centre) * (2.0 / scale)).astype(np.float32)


def denormalize(depth_n: np.ndarray, centre: float, scale: float) -> np.ndarray:
    """Normalised units back to metres."""
    return (depth_n * (scale / 2.0) + centre).astype(np.float32)
