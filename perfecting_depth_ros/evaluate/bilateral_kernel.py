"""A compiled joint bilateral filter evaluated at chosen pixels only (numba).

The hole fusion's classical fill needs OpenCV's ``ximgproc.jointBilateralFilter`` at the few percent of a frame's
pixels that a hole's border reaches. OpenCV filters whole images, so ``baselines.joint_bilateral_at`` ran it on
crops around those pixels: about 143 calls and 27 ms a 640x480 frame on a 2-core CPU. This kernel computes the same
sums, in the same order and in float32, at the listed pixels alone: the filter's colour weights come from the
same table (linearly interpolated, scaled to the guide's whole range of values), its space weights from the same
circular window, and borders are reflected as OpenCV's default does (``BORDER_REFLECT_101``).

Import it only where numba is installed (``baselines`` falls back to OpenCV's crops otherwise). The kernel holds no
Python state and releases the GIL, so the node's workers run it at once. It is compiled once and cached on disk
(about 1 s, then 0.2 s at each start), or compiled at each start where no cache folder is writable.
"""

from __future__ import annotations

import numpy as np
from numba import njit

EXP_BINS_PER_CHANNEL = 1 << 12  # OpenCV's colour-weight table: 4096 bins per guide channel


def _jit(fn):
    """numba's compiled ``fn``, cached on disk (beside the package, or in the user's cache folder) where one of them
    is writable, else compiled afresh in each process (about 1 s): a read-only install with no home folder."""
    try:
        return njit(cache=True, nogil=True)(fn)
    except RuntimeError:  # numba: "cannot cache function ...: no locator available"
        return njit(nogil=True)(fn)


def filter_tables(guide: np.ndarray, dia: int, sigma_color: float, sigma_space: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.float32]:
    """The filter's window offsets (dy, dx), space weights, colour-weight table and table scale for an HxWxC float32
    ``guide`` whose values are not all equal (OpenCV blurs such a guide with a square Gaussian instead)."""
    radius = max(dia // 2, 1)
    channels = guide.shape[2] if guide.ndim == 3 else 1
    span = float(guide.max()) - float(guide.min())
    if not np.isfinite(span):  # a NaN or infinite guide value would index the colour table anywhere
        raise ValueError("the joint bilateral filter's guide holds NaN or infinite values")
    colour_range = max(np.float32(span) * np.float32(channels), np.float32(0.01))
    bins = EXP_BINS_PER_CHANNEL * channels
    scale = np.float32(np.float32(bins) / colour_range)
    val = (np.arange(bins + 2, dtype=np.float32) / scale).astype(np.float64)
    lut = np.exp(val * val * (-0.5 / (sigma_color * sigma_color))).astype(np.float32)
    dy, dx = np.mgrid[-radius:radius + 1, -radius:radius + 1]
    inside = dy * dy + dx * dx <= radius * radius  # row by row, as OpenCV lists them
    r2 = (dy * dy + dx * dx)[inside].astype(np.float64)
    space = np.exp(r2 * (-0.5 / (sigma_space * sigma_space))).astype(np.float32)
    return dy[inside].astype(np.int64), dx[inside].astype(np.int64), space, lut, scale


@_jit
def _reflect101(i, n):
    if n == 1:
        return 0
    while i < 0 or i >= n:
        i = -i if i < 0 else 2 * n - 2 - i
    return i


@_jit
def _filter_points(guide, src, ys, xs, dy, dx, space, lut, scale, out):
    """The filter at pixels (ys[n], xs[n]) of an HxWx3 guide and HxWx3 src into out; the sums in OpenCV's order."""
    H, W = guide.shape[0], guide.shape[1]
    r = max(np.abs(dy).max(), np.abs(dx).max())
    for n in range(ys.size):
        y, x = ys[n], xs[n]
        inner = r <= y < H - r and r <= x < W - r
        g0, g1, g2 = guide[y, x, 0], guide[y, x, 1], guide[y, x, 2]
        s0, s1, s2, wsum = np.float32(0.0), np.float32(0.0), np.float32(0.0), np.float32(0.0)
        for k in range(dy.size):
            if inner:
                yy, xx = y + dy[k], x + dx[k]
            else:
                yy, xx = _reflect101(y + dy[k], H), _reflect101(x + dx[k], W)
            a = abs(g0 - guide[yy, xx, 0]) + abs(g1 - guide[yy, xx, 1]) + abs(g2 - guide[yy, xx, 2])
            a *= scale
            i = np.int64(a)
            a -= np.float32(i)
            w = space[k] * (lut[i] + a * (lut[i + 1] - lut[i]))
            s0 += w * src[yy, xx, 0]
            s1 += w * src[yy, xx, 1]
            s2 += w * src[yy, xx, 2]
            wsum += w
        inv = np.float32(1.0) / wsum  # OpenCV divides a vector by a scalar as a product with its inverse
        out[y, x, 0], out[y, x, 1], out[y, x, 2] = s0 * inv, s1 * inv, s2 * inv


def joint_bilateral_points(guide: np.ndarray, src: np.ndarray, dia: int, sigma_color: float, need: np.ndarray
                           ) -> np.ndarray:
    """``cv2.ximgproc.jointBilateralFilter(guide, src, dia, sigma_color, dia / 2)`` at the pixels ``need`` (HxW
    bool), 0 elsewhere: ``guide`` and ``src`` HxWx3 float32, the guide's values not all equal."""
    if guide.ndim != 3 or guide.shape[2] != 3 or src.shape != guide.shape or need.shape != guide.shape[:2]:
        raise ValueError(f"joint_bilateral_points takes an HxWx3 guide and src and an HxW mask, got {guide.shape}, "
                         f"{src.shape} and {need.shape}")
    if dia < 3 or sigma_color <= 0:  # (OpenCV would substitute its defaults)
        raise ValueError(f"joint_bilateral_points needs a diameter of 3 or more and a positive colour sigma, got {dia} "
                         f"and {sigma_color}")
    g = np.ascontiguousarray(guide, np.float32)
    dy, dx, space, lut, scale = filter_tables(g, dia, sigma_color, dia / 2)
    ys, xs = np.nonzero(need)
    out = np.zeros(src.shape, np.float32)
    _filter_points(g, np.ascontiguousarray(src, np.float32), ys.astype(np.int64), xs.astype(np.int64), dy, dx,
                   space, lut, scale, out)
    return out
