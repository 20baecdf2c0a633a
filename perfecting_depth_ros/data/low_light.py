"""A colour camera in less light: the guide a robot's camera records in a dim room or at night.

``darken`` linearises an image (sRGB gamma 2.2), scales it by the light level, adds shot noise (``photons`` at full
scale) and read noise, puts the gamma back and quantises to 8 bits. ``dark_guide`` is the training augmentation built
on it: a window's colour as the enhancer would pass it to the model at a random low light level, brightened by the
enhancer's own ``dark_guide.brighten_dark_guide``.
"""

from __future__ import annotations

import cv2
import numpy as np

from ..dark_guide import brighten_dark_guide

PHOTONS = 2000.0  # photo-electrons at full scale
READ_NOISE = 0.002  # of full scale
DARK_LEVELS = (0.005, 0.1)  # dark_guide: log-uniform light levels between these, ...
P_BLACK = 0.25  # ... a guide of zeros (lights off, a covered lens) this often ...
P_READ_NOISE = 0.25  # ... and read noise alone (no light at all) this often


def darken(rgb: np.ndarray, level: float | str, rng: np.random.Generator | None, photons: float = PHOTONS,
           read_noise: float = READ_NOISE) -> np.ndarray:
    """``rgb`` (uint8) as recorded with ``level`` times the light (``"black"``: zeros; above 1 over-exposed: the
    brighter parts clip at full scale, as a window or sunlight does to a camera exposed for the room); ``rng`` None:
    without noise (a shorter exposure of a bright scene)."""
    if level == "black":
        return np.zeros_like(rgb)
    if level == 1.0:
        return rgb
    lin = (rgb.astype(np.float32) / 255.0) ** 2.2 * level
    if rng is not None:
        shot = rng.poisson(lin * photons).astype(np.float32) / photons
        lin = shot + rng.normal(0.0, read_noise, lin.shape).astype(np.float32)
    return np.round(np.clip(lin, 0.0, 1.0) ** (1 / 2.2) * 255.0).astype(np.uint8)


def draw_level(rng: np.random.Generator) -> float | str:
    """A light level for ``dark_guide``: "black", 0 (read noise alone) or log-uniform in ``DARK_LEVELS``."""
    u = rng.random()
    if u < P_BLACK:
        return "black"
    if u < P_BLACK + P_READ_NOISE:
        return 0.0
    lo, hi = np.log(DARK_LEVELS)
    return float(np.exp(rng.uniform(lo, hi)))


def dark_guide(rgb: np.ndarray, rng: np.random.Generator, upscale: int = 2) -> np.ndarray:
    """A training window's colour (uint8, model scale) as the model sees it in the dark: recorded at a random low light
    level (``draw_level``) at ``upscale`` times the model's scale (a 640x480 camera for the 320x240 model, so the noise
    is averaged as the enhancer's resize averages it), brightened as the enhancer brightens a dark guide, and brought
    back to the window's size."""
    h, w = rgb.shape[:2]
    big = cv2.resize(rgb, (w * upscale, h * upscale), interpolation=cv2.INTER_LINEAR) if upscale > 1 else rgb
    guide = brighten_dark_guide(darken(big, draw_level(rng), rng))[0]
    return cv2.resize(guide, (w, h), interpolation=cv2.INTER_AREA) if upscale > 1 else guide
