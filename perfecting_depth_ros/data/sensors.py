"""Sensor simulator: what makes raw depth wrong.

Each model turns a clean rendered :class:`~perfecting_depth_ros.data.world.Frame` into raw sensor
depth (float32 metres, 0 = invalid), reproducing the failure modes robot cameras show. Numbers
and where they come from:

- Active stereo, RealSense D435 (``realsense_d435``): baseline 50 mm, subpixel disparity RMS
  about 0.08 px, giving depth RMS ~ z^2 * 0.08 / (f * b) (Intel D400 datasheet, rev. 2019, and
  "Best-Known-Methods for Tuning Intel RealSense D400"); min range ~0.2 m at 640x480, usable to
  ~6 m; disparity is computed on 1/32 px steps; the left-camera region not seen by the right
  camera is invalid (occlusion band to the left of foreground objects); speckle dropouts.
- Structured light, Kinect v1 / Xtion (``kinect_v1``): baseline 75 mm, f = 580 px, disparity
  quantised to 1/8 px, so the depth step is z^2 / (8 * f * b) = 2.87e-3 * z^2 m
  (Khoshelham & Elberink, Sensors 2012); range 0.5-4.5 m; projector shadows beside foreground
  objects (the projector sits 75 mm to the side).
- Time of flight, Azure Kinect NFOV / Kinect v2 (``azure_kinect``): random error < 17 mm + 0.1 %
  of range, systematic < 11 mm (Azure Kinect DK hardware spec); flying pixels (mixtures of
  foreground and background) at depth edges; multipath bias in concave corners; dropouts on dark
  (absorbing) surfaces; a radial range limit (the NFOV hexagon is approximated by a circle);
  range 0.25-5.5 m.
- Materials, for all models: transparent surfaces return the surface behind them (valid-looking,
  wrong) or holes; specular surfaces give holes or spikes; mirrors return the length of the
  reflected path (too far); dark surfaces give holes.
- RGB-depth misregistration of up to two pixels (factory calibration error).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .world import DARK, MIRROR, SPECULAR, TRANSPARENT, Frame


@dataclass(frozen=True)
class SensorModel:
    """Parameters of one depth sensor family (see the module docstring for sources)."""

    name: str
    kind: str  # "stereo", "structured_light", "tof"
    baseline_m: float
    disparity_noise_px: float
    disparity_step_px: float
    min_range_m: float
    max_range_m: float
    dropout_rate: float  # fraction of pixels in speckle dropout blobs
    shadow: bool  # occlusion / projector shadow band
    flying_pixels: float  # ToF: probability that an edge pixel is a foreground/background mixture
    dark_threshold: float  # albedo below which the return is lost
    radial_limit: float  # ToF: max normalised image radius that returns depth (inf = none)
    misregistration_px: float  # max RGB-depth offset
    reference_focal_px: float  # focal length the disparity figures refer to


SENSORS: dict[str, SensorModel] = {
    "realsense_d435": SensorModel("realsense_d435", "stereo", 0.050, 0.08, 1 / 32, 0.2, 6.0, 0.01, True, 0.0,
                                  0.03, np.inf, 1.0, 385.0),
    "kinect_v1": SensorModel("kinect_v1", "structured_light", 0.075, 0.05, 1 / 8, 0.5, 4.5, 0.005, True, 0.0,
                             0.04, np.inf, 1.5, 580.0),
    "azure_kinect": SensorModel("azure_kinect", "tof", 0.0, 0.0, 0.0, 0.25, 5.5, 0.003, False, 0.5, 0.06,
                                1.05, 1.0, 504.0),
}


def _occlusion_band(depth: np.ndarray, fx_b: float) -> np.ndarray:
    """Pixels the second view (shifted by the baseline to the right) cannot see.

    A pixel at column x lands at x - d(x) in the other view; it is hidden if some pixel to its
    right lands at or left of it (a nearer surface covers it). Vectorised with a running minimum.
    """
    H, W = depth.shape
    with np.errstate(divide="ignore"):
        disp = np.where(depth > 0, fx_b / depth, 0.0)
    proj = np.arange(W)[None, :] - disp  # [H,W]
    run_min = np.minimum.accumulate(proj[:, ::-1], axis=1)[:, ::-1]
    right_min = np.concatenate([run_min[:, 1:], np.full((H, 1), np.inf)], axis=1)
    return right_min < proj - 0.5


def _blobs(shape: tuple[int, int], rate: float, rng: np.random.Generator, size: tuple[float, float]) -> np.ndarray:
    """Random blob mask covering about ``rate`` of the image (thresholded smooth noise)."""
    if rate <= 0:
        return np.zeros(shape, bool)
    noise = rng.standard_normal(shape).astype(np.float32)
    noise = cv2.GaussianBlur(noise, (0, 0), rng.uniform(*size))
    thr = np.quantile(noise, 1 - rate)
    return noise > thr


def _edges(depth: np.ndarray, rel: float = 0.05) -> np.ndarray:
    """Depth discontinuities: a neighbour differs by more than ``rel`` of the depth."""
    dmax = cv2.dilate(depth, np.ones((3, 3), np.uint8))
    dmin = cv2.erode(depth, np.ones((3, 3), np.uint8))
    return (dmax - dmin) > rel * np.maximum(depth, 1e-3)


def simulate(frame: Frame, model: SensorModel | str, rng: np.random.Generator) -> np.ndarray:
    """Raw sensor depth [H,W] float32 metres (0 = invalid) for a clean rendered frame."""
    m = SENSORS[model] if isinstance(model, str) else model
    H, W = frame.depth.shape
    fx = float(frame.K[0, 0])
    z = frame.depth.astype(np.float32).copy()
    mat = frame.material
    # Materials first: what the sensor measures at each surface.
    glass = mat == TRANSPARENT
    if glass.any():  # see-through (valid but wrong: the surface behind) or lost
        see_through = rng.random() < 0.7
        z[glass] = frame.depth_opaque[glass] if see_through else 0.0
    mirror = mat == MIRROR
    if mirror.any():  # the reflected path: farther than the mirror, smooth
        z[mirror] = frame.depth[mirror] + np.float32(rng.uniform(0.5, 2.5))
    spec = mat == SPECULAR
    if spec.any():  # saturated highlight: holes, or spikes where the matcher locks onto a reflection
        glare = spec & _blobs((H, W), 0.5, rng, (2, 6))
        if rng.random() < 0.5:
            z[glare] = 0.0
        else:
            spikes = glare & (rng.random((H, W)) < 0.3)
            z[spikes] *= rng.uniform(0.6, 1.6, spikes.sum()).astype(np.float32)
    dark = (frame.albedo < m.dark_threshold) | (mat == DARK)
    z[dark & (rng.random((H, W)) < (0.9 if m.kind == "tof" else 0.6))] = 0.0

    valid = z > 0
    if m.kind in ("stereo", "structured_light"):
        fb = fx * m.baseline_m  # px * m
        disp = np.where(valid, fb / np.maximum(z, 1e-3), 0.0)
        # noise and quantisation happen at the sensor's native resolution: scale them to this image
        res = fx / m.reference_focal_px
        disp += rng.normal(0, m.disparity_noise_px * res, disp.shape)
        step = m.disparity_step_px * res
        disp = np.round(disp / step) * step
        with np.errstate(divide="ignore"):
            z = np.where(valid & (disp > 0), fb / np.maximum(disp, 1e-6), 0.0).astype(np.float32)
        if m.shadow:
            z[_occlusion_band(frame.depth, fb)] = 0.0
        # Stereo matching fails along strong edges for a pixel or so.
        edge = _edges(frame.depth, 0.08)
        z[edge & (rng.random((H, W)) < 0.5)] = 0.0
    else:  # time of flight
        sigma = 0.004 + 0.001 * z + 0.006 * z / np.maximum(frame.albedo * 4, 0.2)
        z = z + rng.normal(0, 1, z.shape).astype(np.float32) * sigma
        # Flying pixels: edge pixels mix foreground and background.
        edge = _edges(frame.depth, 0.05)
        fly = edge & (rng.random((H, W)) < m.flying_pixels)
        dmax = cv2.dilate(frame.depth, np.ones((3, 3), np.uint8))
        dmin = cv2.erode(frame.depth, np.ones((3, 3), np.uint8))
        a = rng.random((H, W)).astype(np.float32)
        z[fly] = (a * dmin + (1 - a) * dmax)[fly]
        # Multipath: concave corners read too far (bias grows near the crease).
        nz = frame.normal
        crease = cv2.GaussianBlur((1 - np.abs(cv2.Laplacian(nz[..., 2], cv2.CV_32F))).astype(np.float32), (0, 0), 3)
        bend = np.clip(1 - crease, 0, 1)
        z = z + valid * 0.02 * bend * z
        yy, xx = np.mgrid[0:H, 0:W]
        rr = np.hypot((xx - frame.K[0, 2]) / fx, (yy - frame.K[1, 2]) / fx)
        z[rr > m.radial_limit] = 0.0
        z[~valid] = 0.0
    z[(z < m.min_range_m) | (z > m.max_range_m)] = 0.0
    z[_blobs((H, W), m.dropout_rate, rng, (1.0, 2.5))] = 0.0
    # Misregistration: the depth image is shifted against the RGB by up to a pixel or two.
    if m.misregistration_px > 0:
        dx, dy = rng.uniform(-m.misregistration_px, m.misregistration_px, 2)
        A = np.float32([[1, 0, dx], [0, 1, dy]])
        z = cv2.warpAffine(z, A, (W, H), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return np.nan_to_num(z, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def random_hole_mask(shape: tuple[int, int], rng: np.random.Generator, coverage: float | None = None) -> np.ndarray:
    """Training masks for stage 1: hole-shaped blobs, edge-like strokes and scattered pixels (True = hidden)."""
    H, W = shape
    cov = rng.uniform(0.05, 0.6) if coverage is None else coverage
    mask = _blobs(shape, cov * rng.uniform(0.5, 1.0), rng, (H / 40, H / 8))
    if rng.random() < 0.5:  # strokes: thin bands, like shadows and invalid edge bands
        strokes = np.zeros(shape, np.uint8)
        for _ in range(int(rng.integers(1, 8))):
            p0 = (int(rng.integers(0, W)), int(rng.integers(0, H)))
            p1 = (int(rng.integers(0, W)), int(rng.integers(0, H)))
            cv2.line(strokes, p0, p1, 1, int(rng.integers(1, max(2, W // 30))))
        mask |= strokes.astype(bool)
    mask |= rng.random(shape) < rng.uniform(0, 0.1)
    return mask
