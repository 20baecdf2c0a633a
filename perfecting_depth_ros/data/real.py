"""Readers for the real RGB-D frames in ../shared/data/real (never copied into the repository).

Each frame comes back as (name, sensor, rgb HxWx3 uint8 registered or approximately registered to the
depth, depth HxW float32 metres with 0 = invalid). Where the RGB camera is not registered to the depth,
the depth camera's own IR image is used as the guide if there is one (Azure Kinect); the 7-Scenes colour is
registered by a similarity fitted on its training frames (``SEVENSCENES_RGB_TO_DEPTH``); otherwise the RGB is
resized to the depth size and the offset noted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..io import match_depth_size
from .sensors import SENSORS

# Nominal maximum range of each real sensor (metres), as its driver or datasheet states it: Kinect v1 (Khoshelham &
# Elberink 2012, as in data/sensors.py), Xtion Pro Live (ASUS spec, 0.8-3.5 m), Kinect v2 (0.5-4.5 m), Azure Kinect
# NFOV unbinned, the 640x576 mode of the frame here (Azure Kinect DK hardware spec, 0.5-3.86 m), iPhone LiDAR (about 5 m).
SENSOR_MAX_RANGE_M = {"kinect_v1": SENSORS["kinect_v1"].max_range_m, "xtion": 3.5, "kinect_v2": 4.5,
                      "azure_kinect": 3.86, "iphone_lidar": 5.0}


# The 7-Scenes sequence's contiguous split: frames 0-699 train (the self-supervised hold-out fine-tune sees them),
# 700-799 a gap block (validation: chooses checkpoints), 800-999 test.
SEVENSCENES_TRAIN, SEVENSCENES_GAP, SEVENSCENES_TEST = range(0, 700), range(700, 800), range(800, 1000)


@dataclass
class RealFrame:
    name: str
    sensor: str
    rgb: np.ndarray
    depth: np.ndarray
    note: str = ""
    use: str = "test"  # "train" (a training run saw this frame), "val" (it chose checkpoints) or "test" (neither)


# The 7-Scenes colour images are not registered to their depth images (the data's README). This similarity (scale
# about the image centre, then a shift in px at 640x480) registers them: fitted on training frames 0-699 by
# scripts/fit_7scenes_registration.py (colour edges onto depth edges). The scale is about the two Kinect v1 cameras'
# focal-length ratio (585 / 525 px); the baseline's parallax, a few px between near and far surfaces, remains.
SEVENSCENES_RGB_TO_DEPTH = (1.1, 7.0, 1.0)


def warp_similarity(img: np.ndarray, scale: float, dx: float, dy: float) -> np.ndarray:
    """``img`` magnified by ``scale`` about its centre and shifted by (dx, dy) px (bilinear, edges replicated)."""
    H, W = img.shape[:2]
    A = np.float32([[scale, 0, (1 - scale) * W / 2 + dx], [0, scale, (1 - scale) * H / 2 + dy]])
    return cv2.warpAffine(img, A, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def register_sevenscenes_rgb(rgb: np.ndarray) -> np.ndarray:
    """A 7-Scenes colour image registered to its depth image (``SEVENSCENES_RGB_TO_DEPTH``)."""
    return warp_similarity(rgb, *SEVENSCENES_RGB_TO_DEPTH)


def sevenscenes_use(index: int) -> str:
    """What the project used 7-Scenes frame ``index`` for: "train", "val" or "test"."""
    return "train" if index in SEVENSCENES_TRAIN else "val" if index in SEVENSCENES_GAP else "test"


def sevenscenes_training_frames(spec) -> range:
    """``range(*spec)`` (start, stop[, step]), checked to name 7-Scenes training frames only: what a run may train on
    (the gap and test blocks never)."""
    frames = range(*spec)
    if not len(frames) or not set(frames) <= set(SEVENSCENES_TRAIN):
        raise ValueError(f"real_frames must name 7-Scenes training frames {SEVENSCENES_TRAIN} (range(start, stop"
                         f"[, step])), got {list(spec)}")
    return frames


def default_real_dir() -> Path:
    """$PERFECTING_DEPTH_REAL_DATA, else ../shared/data/real beside the checkout (or the working directory)."""
    env = os.environ.get("PERFECTING_DEPTH_REAL_DATA")
    if env:
        return Path(env)
    for base in (Path(__file__).resolve().parents[1], Path.cwd()):
        cand = base.parent / "shared" / "data" / "real"
        if cand.is_dir():
            return cand
    return Path.cwd().parent / "shared" / "data" / "real"


def _rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise FileNotFoundError(path)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


def _depth_mm(path: Path) -> np.ndarray:
    d = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if d is None:
        raise FileNotFoundError(path)
    return d.astype(np.float32) / 1000.0


def _fit(rgb: np.ndarray, depth: np.ndarray) -> np.ndarray:
    return match_depth_size(rgb, depth.shape)


def read_sevenscenes_frame(d: Path, i: int, registered: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8, raw depth in metres) of frame ``i`` of the 7-Scenes folder ``d``; the RGB registered to the depth
    (``register_sevenscenes_rgb``) unless ``registered`` is False."""
    rgb = _rgb(d / "rgb" / f"{i:06d}.jpg")
    return (register_sevenscenes_rgb(rgb) if registered else rgb), _depth_mm(d / "depth" / f"{i:06d}.png")


def sevenscenes_frames(root: Path, indices) -> Iterator[RealFrame]:
    d = root / "7scenes_redkitchen_kinect1"
    for i in indices:
        rgb, depth = read_sevenscenes_frame(d, i)
        yield RealFrame(f"7scenes_{i:06d}", "kinect_v1", rgb, depth,
                        "RGB registered by a fitted similarity (parallax remains)", sevenscenes_use(i))


def real_frames(root: str | Path | None = None, sevenscenes_every: int = 100) -> Iterator[RealFrame]:
    """All single real frames plus every ``sevenscenes_every``-th 7-Scenes frame. Missing folders are skipped."""
    root = Path(root) if root else default_real_dir()
    if not root.is_dir():
        return
    nyu = root / "nyu_v2_raw_aligned"
    if nyu.is_dir():
        for k in ("labeled00000", "labeled00050", "labeled00100"):
            yield RealFrame(f"nyu_{k}", "kinect_v1", _rgb(nyu / f"{k}_rgb.jpg"), _depth_mm(nyu / f"{k}_rawdepth_mm.png"))
    o3d = root / "open3d_nyu_sun3d_tum_raw"
    if o3d.is_dir():
        for name, rgbf, df, sensor in (("tum", "tum_rgb.png", "tum_depth_mm.png", "kinect_v1"),
                                       ("sun3d", "sun3d_rgb.jpg", "sun3d_depth_mm.png", "xtion")):
            d = _depth_mm(o3d / df)
            yield RealFrame(f"open3d_{name}", sensor, _fit(_rgb(o3d / rgbf), d), d)
    ak = root / "azure_kinect_pyk4a"
    if ak.is_dir():
        d = _depth_mm(ak / "depth_mm_640x576_depthcam.png")
        ir = cv2.imread(str(ak / "ir_640x576.png"), cv2.IMREAD_UNCHANGED).astype(np.float32)
        ir8 = np.clip(ir / max(np.percentile(ir, 99), 1) * 255, 0, 255).astype(np.uint8)
        yield RealFrame("azure_kinect", "azure_kinect", np.repeat(ir8[..., None], 3, axis=2), d,
                        "IR image as guide (colour camera not registered)")
    k2 = root / "kinect2_esanet_sample"
    if k2.is_dir():
        d = _depth_mm(k2 / "depth_mm.png")
        yield RealFrame("kinect2", "kinect_v2", _fit(_rgb(k2 / "rgb_512x424.png"), d), d)
    ip = root / "iphone_lidar_promptda"
    if ip.is_dir():
        d = _depth_mm(ip / "arkit_lidar_depth_mm_256x192.png")
        yield RealFrame("iphone_lidar", "iphone_lidar", _fit(_rgb(ip / "rgb_1920x1440.jpg"), d), d)
    if (root / "7scenes_redkitchen_kinect1").is_dir() and sevenscenes_every > 0:
        yield from sevenscenes_frames(root, range(0, 1000, sevenscenes_every))


def holdout_mask(depth: np.ndarray, rng: np.random.Generator, fraction: float = 0.10,
                 sigma: float | None = None, hole_bias: float = 0.0) -> np.ndarray:
    """Hide about ``fraction`` of the valid pixels in hole-shaped blobs (True = hidden, scored): thresholded
    Gaussian-blurred noise, blurred by ``sigma`` pixels (default: the larger image side / 60). ``hole_bias`` > 0
    draws the blobs toward the raw holes: the noise (in units of its own spread) is raised by up to that much next
    to a hole, fading over ``sigma`` pixels, so more blobs run into a hole as a hole next to an edge or a dark
    area does (the draw is unchanged at 0)."""
    valid = depth > 0
    H, W = depth.shape
    sigma = max(H, W) / 60 if sigma is None else sigma
    noise = cv2.GaussianBlur(rng.standard_normal((H, W)).astype(np.float32), (0, 0), sigma)
    if hole_bias > 0 and not valid.all():
        noise /= max(float(noise.std()), 1e-12)
        dist = cv2.distanceTransform(valid.astype(np.uint8), cv2.DIST_L2, 3)
        noise += hole_bias * np.exp(-dist / sigma)
    vals = noise[valid]
    if vals.size == 0:
        return np.zeros_like(valid)
    thr = np.quantile(vals, 1 - fraction)
    return valid & (noise > thr)
