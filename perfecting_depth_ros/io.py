"""File I/O: depth images (16-bit PNG millimetres, NPY/EXR metres), PLY point clouds, colour panels."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np


def read_depth(path: str | Path, png_scale: float = 0.001) -> np.ndarray:
    """Depth file -> HxW float32 metres, 0 = invalid. PNG: uint16 times ``png_scale``; NPY/EXR: metres."""
    path = Path(path)
    suf = path.suffix.lower()
    if suf == ".npy":
        d = np.load(path, allow_pickle=False).astype(np.float32)
    else:
        flags = cv2.IMREAD_UNCHANGED | (cv2.IMREAD_ANYDEPTH if suf == ".exr" else 0)
        d = cv2.imread(str(path), flags)
        if d is None:
            raise ValueError(f"cannot read depth image {path}")
        if d.ndim == 3:
            d = d[..., 0]
        d = d.astype(np.float32) * (png_scale if d.dtype in (np.uint16, np.uint8) or suf == ".png" else 1.0)
    d[~np.isfinite(d) | (d < 0)] = 0
    return d


def depth_file_units_warning(path: str | Path, depth: np.ndarray, png_scale: float) -> str:
    """The node's depth-units check for a depth file read by ``read_depth`` ("" if plausible): 16-bit images hold
    ``png_scale`` units, as 16UC1 does; NPY and EXR files metres, as 32FC1 does."""
    from .node.convert import depth_units_warning

    enc = "16UC1" if Path(path).suffix.lower() == ".png" else "32FC1"
    return depth_units_warning(depth, enc, png_scale)


def read_rgb(path: str | Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise ValueError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def match_depth_size(rgb: np.ndarray, depth_shape: tuple[int, ...]) -> np.ndarray:
    """``rgb`` resampled (area) to the depth image's size when it has another one."""
    if rgb.shape[:2] == tuple(depth_shape[:2]):
        return rgb
    return cv2.resize(rgb, (depth_shape[1], depth_shape[0]), interpolation=cv2.INTER_AREA)


def write_depth_png(path: str | Path, depth: np.ndarray) -> None:
    """16-bit PNG in millimetres, 0 where depth is NaN."""
    mm = np.clip(np.round(np.nan_to_num(depth, nan=0.0) * 1000), 0, 65535).astype(np.uint16)
    cv2.imwrite(str(path), mm)


def write_ply(path: str | Path, points: np.ndarray, rgb: np.ndarray, sigma: np.ndarray | None = None) -> int:
    """Binary little-endian PLY of the finite points (x y z float, red green blue uchar, sigma float).

    Returns the number of points written.
    """
    pts = points.reshape(-1, 3)
    ok = np.all(np.isfinite(pts), axis=1)
    n = int(ok.sum())
    dt = np.dtype([("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1"), ("sigma", "<f4")])
    v = np.empty(n, dt)
    v["x"], v["y"], v["z"] = pts[ok, 0], pts[ok, 1], pts[ok, 2]
    c = rgb.reshape(-1, 3)[ok]
    v["red"], v["green"], v["blue"] = c[:, 0], c[:, 1], c[:, 2]
    v["sigma"] = sigma.reshape(-1)[ok] if sigma is not None else 0.0
    header = ("ply\nformat binary_little_endian 1.0\n"
              f"element vertex {n}\nproperty float x\nproperty float y\nproperty float z\n"
              "property uchar red\nproperty uchar green\nproperty uchar blue\nproperty float sigma\nend_header\n")
    with open(path, "wb") as f:
        f.write(header.encode("ascii"))
        f.write(v.tobytes())
    return n


def colorize(x: np.ndarray, vmin: float, vmax: float, cmap: int = cv2.COLORMAP_TURBO) -> np.ndarray:
    """HxW float -> HxWx3 uint8 RGB; NaN and <= 0 shown black."""
    v = np.clip((np.nan_to_num(x, nan=vmin) - vmin) / max(vmax - vmin, 1e-6), 0, 1)
    img = cv2.applyColorMap((v * 255).astype(np.uint8), cmap)[..., ::-1].copy()
    img[~np.isfinite(x) | (x <= 0)] = 0
    return img


def panel(rgb: np.ndarray, raw: np.ndarray, depth: np.ndarray, sigma: np.ndarray, max_sigma: float = 0.1) -> np.ndarray:
    """Side by side: RGB | raw depth | enhanced depth | uncertainty (same depth colour scale)."""
    ref = raw[raw > 0] if (raw > 0).any() else np.array([1.0])
    lo, hi = float(np.percentile(ref, 1)), float(np.percentile(ref, 99))
    return np.concatenate([rgb, colorize(raw, lo, hi), colorize(depth, lo, hi),
                           colorize(sigma, 0.0, max_sigma, cv2.COLORMAP_MAGMA)], axis=1)
