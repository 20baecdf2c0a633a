"""A colour guide darker than the model's training frames brightened to their exposure.

In a dim room or at night an active depth camera still measures, while the colour camera's image darkens and grows
noisy. The learned model was trained on auto-exposed frames (median 99th-percentile brightness about 230 of 255); fed a
dark guide, its rebuilt holes got worse with the light (7-Scenes gap block, hidden raw blobs: 14.8 mm in the light,
16.2 / 17.6 / 19.1 mm at a tenth, 3 % and 1 % of it), as did the colour-guided classical fill's. A guide whose
99th-percentile brightness is below ``TARGET_P99`` is therefore multiplied up to it (at most ``MAX_GAIN`` times) and
smoothed by a small Gaussian against the noise the gain amplifies: fully below ``DARK_P99``, blended in between
(14.7 / 14.9 / 15.6 mm; ``scripts/probe_low_light.py``, which has the rule it was held to and the real frames'
figures). The gain and the smoothing grow continuously as the guide darkens, so a stream whose exposure drifts sees no
step in its depth (``scripts/probe_guide_threshold.py``: a first version that acted only below ``DARK_P99`` changed
the rebuilt depth by 7 mm between two frames either side of it, and frames just above it did worse than those just
below). Guides at the training frames' median or brighter are passed through untouched.
A guide too dark for the gain (lights off, a covered lens: below ``BLACK_P99``) carries no colour cue at all; it is
replaced by a flat mid-grey, which the model reads better than black (hidden blobs 19.3 against 20.3 mm on the gap
block, 40.5 against 41.1 mm on the benchmark's real frames).
"""

from __future__ import annotations

import cv2
import numpy as np

DARK_P99 = 128.0  # a guide whose 99th-percentile luma (0-255) is below this is dark: smoothed in full ...
TARGET_P99 = 230.0  # ... and every guide below this (about the training frames' median) is multiplied up to it ...
MAX_GAIN = 16.0  # ... by at most this factor; the smoothing is a 5x5 Gaussian this wide, blended in from nothing at
BLUR_SIGMA_PX = 1.0  # TARGET_P99 to in full at DARK_P99
BLACK_P99 = DARK_P99 / MAX_GAIN  # darker than this the gain cannot help: the guide becomes a flat ...
BLACK_FILL = 128  # ... grey of this level
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)


def guide_brightness(rgb: np.ndarray) -> float:
    """99th-percentile luma (0-255) of an HxWx3 uint8 guide, from every 4th row and column."""
    return float(np.percentile(rgb[::4, ::4].astype(np.float32) @ _LUMA, 99))


def brighten_dark_guide(rgb: np.ndarray) -> tuple[np.ndarray, float, float]:
    """(guide, gain, brightness): ``rgb`` itself and gain 1.0 where it is as bright as the training frames' median,
    else a brightened, smoothed copy, or a flat grey and gain 0.0 where it is black; ``brightness`` is
    ``guide_brightness(rgb)`` as given."""
    p99 = guide_brightness(rgb)
    if p99 >= TARGET_P99:
        return rgb, 1.0, p99
    if p99 < BLACK_P99:
        return np.full_like(rgb, BLACK_FILL), 0.0, p99
    gain = min(TARGET_P99 / p99, MAX_GAIN)  # p99 >= BLACK_P99 here
    scaled = np.minimum(rgb.astype(np.float32) * np.float32(gain), 255.0)
    out = cv2.GaussianBlur(scaled, (5, 5), BLUR_SIGMA_PX)
    if p99 >= DARK_P99:  # dim, not dark: the smoothing blended in, nothing of it at TARGET_P99
        out = scaled + np.float32((TARGET_P99 - p99) / (TARGET_P99 - DARK_P99)) * (out - scaled)
    return np.round(out).astype(np.uint8), gain, p99
