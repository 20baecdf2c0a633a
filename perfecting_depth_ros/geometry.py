"""Camera geometry on numpy arrays: intrinsics checks and back-projection."""

from __future__ import annotations

import numpy as np


def check_intrinsics(K: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Return K as a float64 3x3 matrix; raise ``ValueError`` if it is unusable.

    Accepts a 3x3 matrix, a 9-vector (CameraInfo.k) or (fx, fy, cx, cy).
    """
    K = np.asarray(K, dtype=np.float64)
    if K.shape == (4,):
        fx, fy, cx, cy = K
        K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1.0]])
    elif K.size == 9:
        K = K.reshape(3, 3)
    else:
        raise ValueError(f"intrinsics must be 3x3, 9 values or (fx, fy, cx, cy); got shape {K.shape}")
    if not np.all(np.isfinite(K)):
        raise ValueError("intrinsics contain NaN or Inf")
    if K[0, 0] <= 0 or K[1, 1] <= 0:
        raise ValueError(f"intrinsics need positive focal lengths, got fx={K[0, 0]}, fy={K[1, 1]} (all-zero K?)")
    if shape is not None:
        H, W = shape
        if not (-W <= K[0, 2] <= 2 * W and -H <= K[1, 2] <= 2 * H):
            raise ValueError(f"principal point ({K[0, 2]:.1f}, {K[1, 2]:.1f}) is far outside a {W}x{H} image")
    return K


def scale_intrinsics(K: np.ndarray, sx: float, sy: float) -> np.ndarray:
    """Intrinsics of the same camera after resizing the image by (sx, sy) (pixel-centre convention)."""
    K = np.array(K, dtype=np.float64)
    K[0, 0] *= sx
    K[1, 1] *= sy
    K[0, 2] = (K[0, 2] + 0.5) * sx - 0.5
    K[1, 2] = (K[1, 2] + 0.5) * sy - 0.5
    return K


def backproject(depth: np.ndarray, K: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Organised camera-frame points [H,W,3] float32 (optical frame: x right, y down, z forward).

    NaN depth gives NaN points. ``out`` may be a (strided) [H,W,3] float32 view to write into, such as the
    xyz part of a point-cloud buffer.
    """
    H, W = depth.shape
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    u = (np.arange(W, dtype=np.float32) - np.float32(cx)) / np.float32(fx)
    v = (np.arange(H, dtype=np.float32) - np.float32(cy)) / np.float32(fy)
    z = depth.astype(np.float32)
    pts = np.empty((H, W, 3), np.float32) if out is None else out
    np.multiply(z, u[None, :], out=pts[..., 0])
    np.multiply(z, v[:, None], out=pts[..., 1])
    pts[..., 2] = z
    return pts
