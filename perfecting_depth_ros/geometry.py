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


def backproject(depth: np.ndarray, K: np.ndarray, out: np.ndarray | None = None,
                rays: np.ndarray | None = None) -> np.ndarray:
    """Organised camera-frame points [H,W,3] float32 (optical frame: x right, y down, z forward).

    NaN depth gives NaN points. ``out`` may be a (strided) [H,W,3] float32 view to write into, such as the
    xyz part of a point-cloud buffer. ``rays`` ([H,W,2], x/z and y/z of each pixel, ``undistorted_rays``) replace the
    pinhole rays of ``K`` for an image that is not rectified.
    """
    H, W = depth.shape
    z = depth.astype(np.float32)
    pts = np.empty((H, W, 3), np.float32) if out is None else out
    if rays is not None:
        np.multiply(z, rays[..., 0], out=pts[..., 0])
        np.multiply(z, rays[..., 1], out=pts[..., 1])
    else:
        fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
        u = (np.arange(W, dtype=np.float32) - np.float32(cx)) / np.float32(fx)
        v = (np.arange(H, dtype=np.float32) - np.float32(cy)) / np.float32(fy)
        np.multiply(z, u[None, :], out=pts[..., 0])
        np.multiply(z, v[:, None], out=pts[..., 1])
    pts[..., 2] = z
    return pts


DISTORTION_MODELS = ("plumb_bob", "rational_polynomial", "equidistant")  # sensor_msgs/distortion_models


def distort(x: np.ndarray, y: np.ndarray, D, model: str) -> tuple[np.ndarray, np.ndarray]:
    """Normalised undistorted (x/z, y/z) -> distorted, as OpenCV (and so ROS calibration) models them: plumb_bob and
    rational_polynomial with D = (k1, k2, p1, p2[, k3[, k4, k5, k6]]); equidistant (OpenCV's fisheye) with
    D = (k1, k2, k3, k4)."""
    d = np.zeros(8)
    d[:min(len(D), 8)] = np.asarray(D, dtype=np.float64)[:8]
    if model == "equidistant":
        r = np.hypot(x, y)
        th = np.arctan(r)
        th2 = th * th
        th_d = th * (1 + th2 * (d[0] + th2 * (d[1] + th2 * (d[2] + th2 * d[3]))))
        s = np.where(r > 1e-12, th_d / np.maximum(r, 1e-12), 1.0)
        return x * s, y * s
    k1, k2, p1, p2, k3, k4, k5, k6 = d
    r2 = x * x + y * y
    radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
    return (x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x),
            y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y)


def undistorted_rays(K: np.ndarray, D, model: str, shape: tuple[int, int], tol: float = 1e-7) -> np.ndarray:
    """[H,W,2] float32 x/z and y/z of the ray through each pixel centre of a raw (distorted) image with intrinsics
    ``K`` and distortion ``D`` (``model`` one of DISTORTION_MODELS): ``distort`` inverted by Newton's method.
    Pixels where it does not converge (outside the model's valid field of view) get NaN rays, so no point."""
    if model not in DISTORTION_MODELS:
        raise ValueError(f"distortion model {model!r} is not one of {', '.join(DISTORTION_MODELS)}")
    H, W = shape
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    xd = np.broadcast_to((np.arange(W, dtype=np.float64) - cx) / fx, (H, W))
    yd = np.broadcast_to(((np.arange(H, dtype=np.float64) - cy) / fy)[:, None], (H, W))
    with np.errstate(all="ignore"):  # an absurd calibration overflows: those rays end NaN, without warnings
        rays = _invert(xd, yd, D, model, tol)
    return rays


MAX_MAGNIFICATION = 100.0  # |d distorted / d ray| beyond which an inverse is taken for another branch


def _jacobian(x: np.ndarray, y: np.ndarray, gx: np.ndarray, gy: np.ndarray, D, model: str, h: float = 1e-7):
    """d(distorted x, y) / d(x, y) by forward differences at (x, y), whose distortion is (gx, gy): j00, j10, j01,
    j11."""
    ax, ay = distort(x + h, y, D, model)
    bx, by = distort(x, y + h, D, model)
    return (ax - gx) / h, (ay - gy) / h, (bx - gx) / h, (by - gy) / h


def _invert(xd: np.ndarray, yd: np.ndarray, D, model: str, tol: float) -> np.ndarray:
    x, y = xd.copy(), yd.copy()
    for _ in range(30):
        gx, gy = distort(x, y, D, model)
        ex, ey = gx - xd, gy - yd
        j00, j10, j01, j11 = _jacobian(x, y, gx, gy, D, model)
        det = j00 * j11 - j01 * j10
        det = np.where(np.abs(det) > 1e-12, det, np.nan)
        x = x - (j11 * ex - j01 * ey) / det
        y = y - (-j10 * ex + j00 * ey) / det
        if np.nanmax(np.abs(ex) + np.abs(ey), initial=0.0) < tol:
            break
    gx, gy = distort(x, y, D, model)
    bad = ~(np.abs(gx - xd) + np.abs(gy - yd) < tol * 10)
    # A root past a fold of the model (the distortion turning back on itself, det <= 0) or where it magnifies a
    # hundredfold is another branch of the polynomial, not the lens: a pixel a few px from the centre was found
    # 89.8 degrees off axis (fuzzing, p2 = 1, k3 = 2). No point there rather than a wrong one; real lenses stay far
    # from either inside their image.
    j00, j10, j01, j11 = _jacobian(x, y, gx, gy, D, model)
    bad |= ~(j00 * j11 - j01 * j10 > 0) | ~(np.maximum(np.hypot(j00, j10), np.hypot(j01, j11)) < MAX_MAGNIFICATION)
    if model == "equidistant":  # past 90 degrees from the axis a ray has no z/xy form
        bad |= np.arctan(np.hypot(x, y)) >= np.pi / 2 - 1e-6
    rays = np.stack([x, y], axis=-1).astype(np.float32)
    rays[bad] = np.nan
    return rays
