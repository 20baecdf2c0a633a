"""DepthEnhancer: the one public, ROS-free entry point.

    from perfecting_depth_ros import DepthEnhancer
    enh = DepthEnhancer()                      # the shipped learned model, best available backend
    out = enh.enhance(rgb, depth, intrinsics)  # rgb HxWx3 uint8 RGB, depth HxW float32 m (0/NaN missing)
    out.depth, out.uncertainty, out.timings

``DepthEnhancer(method="guided_fill")`` (or any name in ``evaluate.baselines.BASELINES``) runs a
classical method through the same interface, so the node, the bag tool and the benchmark can run
either. The classical methods are named as such in ``out.method`` and in the node's diagnostics.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from .dark_guide import brighten_dark_guide, guide_brightness
from .edge_side import choose_edge_side
from .fill import planar_fill
from .geometry import backproject, check_intrinsics
from .hole_shape import colour_shape
from .model.normalization import denormalize, depth_stats, normalize
from .near_holes import cap_near_holes

log = logging.getLogger("perfecting_depth_ros.enhancer")

DEFAULT_WEIGHTS = Path(__file__).parent / "weights" / "perfecting_depth.safetensors"
DEFAULT_FUSION = DEFAULT_WEIGHTS.parent / "hole_fusion.safetensors"  # hole_fusion.py, trained for the above
MIN_VALID_PIXELS = 64
NOISE_MODES = ("fixed", "fresh")
RANGE_MARGIN = (0.5, 2.0)  # rebuilt depth is kept within these multiples of the nearest and farthest measurement
LOCAL_WINDOW = 0.0  # rebuilt holes stay within the measurements in a window this fraction of the larger side (0: off)
LOCAL_FAR_REACH = 0.8  # a local_window clip leaves holes rebuilt past this fraction of the reach unbounded above
HOLE_SMOOTH_PX = 3.0  # rebuilt pixels are smoothed by a Gaussian this wide (px at 320 px wide; 0: off) ...
HOLE_SMOOTH_REL = 0.1  # ... edge-preserving when > 0: a bilateral filter in log depth with this range sigma
# (chosen on validation frames by scripts/probe_hole_smooth.py: the rebuild copies texture into smooth surfaces)
HOLE_DEEP_FROM = (8.0, 16.0)  # rebuilt pixels farther than these (start, full) px from any kept pixel (at 320 px
HOLE_DEEP_PX = 6.0  # wide) blend into a plain Gaussian this wide (0: off): deep in a hole no measurement backs an edge
# (chosen on validation frames, confirmed on fresh ones, by scripts/probe_deep_smooth.py)
# Rebuilt pixels within EDGE_SIDE_PX (px at 320 px wide) of measurements of two surfaces can take the surface whose
# measurements (window half side EDGE_SIDE_WINDOW px) match their colour (edge_side.choose_edge_side, with its replace
# and gap). Off (0): better on every synthetic figure, worse on real frames (scripts/probe_edge_side.py).
EDGE_SIDE_PX = 0.0
EDGE_SIDE_WINDOW = 4
EDGE_SIDE_REPLACE = "always"
EDGE_SIDE_GAP = 0.0
HOLE_SHAPE_PX = 0.0  # > 0: deep in raw holes the learned level with a colour-guided fill's shape (hole_shape.py), its
HOLE_SHAPE_RAMP = (8.0, 16.0)  # Gaussian's width and blend ramp (px from the nearest measurement, at 320 px wide); off:
# its rule failed on real raw holes (scripts/probe_hole_shape.py)
NEAR_CAP_FACTOR = 1.15  # rebuilt pixels of border holes beside the frame's nearest measurements (within this factor)
# are no farther than the hole fusion's classical fill (near_holes.py; 0: off; with the fusion only; rule and outcome
# in scripts/probe_near_holes.py)
KEEP_GATE = 0.5  # a raw pixel is kept exactly where the refiner's gate (its reliability) exceeds this
STRAY_WINDOW = 1 / 40  # a rebuilt hole's 1-sigma grows by how far it strays past the measurements in this window

# What each published pixel is (EnhancedDepth.source; the node's depth_enhanced/source, mono8)
SOURCE_NONE, SOURCE_MEASURED, SOURCE_REPLACED, SOURCE_REBUILT = 0, 1, 2, 3


def keep_all_measurements(raw: np.ndarray, depth: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every valid raw measurement in place of the depth there; where the depth differed (a measurement judged
    wrong), that difference joins the 1-sigma in quadrature: the model put the truth about that far away."""
    valid = raw > 0
    diff = np.where(valid & np.isfinite(depth), raw - depth, 0).astype(np.float32)
    return (np.where(valid, raw, depth).astype(np.float32),
            np.sqrt(sigma * sigma + diff * diff).astype(np.float32))


def drop_rebuilt(depth: np.ndarray, sigma: np.ndarray, source: np.ndarray,
                 where: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rebuilt pixels (``SOURCE_REBUILT``) among ``where`` made no value (NaN depth and sigma, ``SOURCE_NONE``);
    the arrays themselves when there are none."""
    drop = (source == SOURCE_REBUILT) & where
    if not drop.any():
        return depth, sigma, source
    return (np.where(drop, np.nan, depth).astype(np.float32), np.where(drop, np.nan, sigma).astype(np.float32),
            np.where(drop, SOURCE_NONE, source).astype(np.uint8))


def drop_beyond_range(depth: np.ndarray, sigma: np.ndarray, source: np.ndarray, max_range: float,
                      sigmas: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rebuilt pixels (``SOURCE_REBUILT``) whose depth plus ``sigmas`` 1-sigmas reaches past ``max_range`` become no
    value (NaN depth and sigma, ``SOURCE_NONE``): the sensor may have left them empty because their truth lies past
    its range, where every fill puts them too near (scripts/far_holes.py). Measured pixels are never dropped."""
    with np.errstate(invalid="ignore"):
        return drop_rebuilt(depth, sigma, source, depth + np.float32(sigmas) * sigma > np.float32(max_range))


def drop_below_range(depth: np.ndarray, sigma: np.ndarray, source: np.ndarray, min_range: float,
                     sigmas: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rebuilt pixels (``SOURCE_REBUILT``) whose depth minus ``sigmas`` 1-sigmas reaches below ``min_range`` become no
    value (NaN depth and sigma, ``SOURCE_NONE``): the sensor may have left them empty because their truth lies inside
    its minimum range (an object at the gripper), where every fill puts them too far and a ray through them would
    clear a real obstacle (scripts/near_range_holes.py). Measured pixels are never dropped."""
    with np.errstate(invalid="ignore"):
        return drop_rebuilt(depth, sigma, source, depth - np.float32(sigmas) * sigma < np.float32(min_range))


def depth_source(raw: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """uint8 map of where each depth value comes from: SOURCE_MEASURED (the raw measurement, kept exactly),
    SOURCE_REPLACED (a raw measurement judged wrong and rebuilt), SOURCE_REBUILT (a raw hole filled),
    SOURCE_NONE (no value: NaN)."""
    valid = raw > 0
    # 3 - valid - kept: rebuilt 3, replaced 2, measured 1 (boolean arithmetic in uint8: a few times faster than where)
    src = SOURCE_REBUILT - valid.view(np.uint8) - (valid & (depth == raw)).view(np.uint8)
    src *= np.isfinite(depth).view(np.uint8)  # SOURCE_NONE = 0 where no value is given
    return src


@dataclass
class EnhancedDepth:
    """Result of one frame. Depth and uncertainty are HxW float32 metres at the input size."""

    depth: np.ndarray  # NaN where no value is given
    uncertainty: np.ndarray  # 1-sigma, metres (NaN where depth is NaN)
    method: str
    backend: str
    timings: dict[str, float] = field(default_factory=dict)  # milliseconds
    spread: np.ndarray | None = None  # stage-1 sample spread, metres (learned model only)
    raw_reliability: np.ndarray | None = None  # probability that each raw pixel is right (learned model only)
    points: np.ndarray | None = None  # HxWx3 camera-frame points when intrinsics were given
    source: np.ndarray | None = None  # HxW uint8: SOURCE_MEASURED / _REPLACED / _REBUILT / _NONE per pixel
    guide_brightness: float = float("nan")  # the guide's 99th-percentile luma (0-255) as given (dark_guide.py)
    guide_gain: float = 1.0  # the factor the guide was brightened by (1: at 230 or brighter, or off; 0: black, grey)


# SOURCE_* by value, as source_shares names them (the node's diagnostics: last_frame_<name>_pct)
SOURCE_NAMES = ("no_value", "measured_kept", "measured_replaced", "rebuilt")


def published_depth(depth: np.ndarray, sigma: np.ndarray, depth_max_sigma: float = 0.0) -> np.ndarray:
    """The depth as the node publishes it: NaN where there is none or, when ``depth_max_sigma`` > 0, where the
    1-sigma exceeds it."""
    if depth_max_sigma <= 0:
        return depth
    with np.errstate(invalid="ignore"):
        return np.where(sigma > depth_max_sigma, np.nan, depth).astype(np.float32)


def source_shares(out: EnhancedDepth, depth_max_sigma: float = 0.0, step: int = 4) -> dict[str, float]:
    """Shares (0..1) of a frame's pixels by where their published depth comes from (``SOURCE_NAMES``), counted on
    every ``step``-th row and column; {} when the method gives no source map."""
    if out.source is None:
        return {}
    sl = (slice(None, None, step), slice(None, None, step))
    ok = np.isfinite(published_depth(out.depth[sl], out.uncertainty[sl], depth_max_sigma))
    counts = np.bincount(np.where(ok, out.source[sl], SOURCE_NONE).ravel(), minlength=4)[:4]
    return {name: float(c) / max(1, ok.size) for name, c in zip(SOURCE_NAMES, counts)}


def check_inputs(rgb: np.ndarray, depth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Validate and canonicalise inputs; raise ``ValueError`` with a precise message on bad input.

    Returns (rgb HxWx3 uint8, depth HxW float32 with NaN/Inf/negative/zero turned into 0: no measurement).
    """
    rgb = np.asarray(rgb)
    depth = np.asarray(depth)
    if depth.ndim == 3 and depth.shape[2] == 1:
        depth = depth[..., 0]
    if depth.ndim != 2 or depth.size == 0:
        raise ValueError(f"depth must be a non-empty HxW array, got shape {depth.shape}")
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise ValueError(f"rgb must be HxWx3 (RGB order), got shape {rgb.shape}")
    rgb = rgb[..., :3]
    if rgb.dtype != np.uint8:
        raise ValueError(f"rgb must be uint8, got {rgb.dtype}")
    if rgb.shape[:2] != depth.shape:
        raise ValueError(f"rgb size {rgb.shape[1]}x{rgb.shape[0]} does not match depth size "
                         f"{depth.shape[1]}x{depth.shape[0]}; register or resize first")
    if not np.issubdtype(depth.dtype, np.floating):
        raise ValueError(f"depth must be float metres, got {depth.dtype} (convert millimetres with /1000)")
    depth = depth.astype(np.float32, copy=True)
    depth[~np.isfinite(depth) | (depth < 0)] = 0.0
    return np.ascontiguousarray(rgb), depth


def check_max_range(max_range_m: float | None) -> float | None:
    """None for unknown (None or 0); a positive finite number of metres; ``ValueError`` otherwise."""
    if max_range_m is None or max_range_m == 0:
        return None
    r = float(max_range_m)
    if not np.isfinite(r) or r < 0:
        raise ValueError(f"max_range_m must be a positive number of metres (0 or None: unknown), got {max_range_m!r}")
    return r


def check_min_range(min_range_m: float | None) -> float | None:
    """None for unknown (None or 0); a positive number of metres up to 100; ``ValueError`` otherwise."""
    if min_range_m is None:
        return None
    if isinstance(min_range_m, bool) or not isinstance(min_range_m, (int, float, np.number)) \
            or not 0 <= min_range_m <= 100:  # NaN fails too
        raise ValueError(f"min_range_m must be a number of metres in [0, 100] (0 or None: unknown), got {min_range_m!r}")
    return float(min_range_m) or None


def check_range_sigmas(name: str, value: float) -> float:
    """A ``beyond_range_sigmas`` / ``below_range_sigmas`` value: a number in [0, 10] (0: off); ``ValueError``
    otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 <= value <= 10:
        raise ValueError(f"{name} must be a number in [0, 10] (0: off), got {value!r}")
    return float(value)


def model_size_for(height: int, width: int, target_width: int = 320) -> tuple[int, int]:
    """Model input size: ``target_width`` on the longer side (never upsampled), same aspect, multiples of 16.

    The longer side, so that a camera mounted on its side runs at the scale (pixels per object) and the cost of the
    same camera upright: width-based, a 480x640 portrait frame ran at 432x320, 1.8x the pixels of its landscape
    twin, 20-35 % slower end to end (`scripts/probe_rotation.py` measured no accuracy change: 43.3 / 44.7 mm at 90 / 270 degrees
    against 44.0 / 44.6 width-based)."""
    if height > width:
        return model_size_for(width, height, target_width)[::-1]
    w = min(target_width, width - width % 16) if width >= 16 else 16
    h = max(16, int(round(height * w / width / 16)) * 16)
    return h, max(16, w)


def _resize_depth(depth: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Valid-aware area resize (holes do not pull depth towards 0); a cell is valid if >= half is."""
    H, W = size
    if depth.shape == (H, W):
        return depth
    v = (depth > 0).astype(np.float32)
    num = cv2.resize(depth * v, (W, H), interpolation=cv2.INTER_AREA)
    den = cv2.resize(v, (W, H), interpolation=cv2.INTER_AREA)
    # nearest sample keeps edges crisp where the area mean would mix two surfaces
    near = cv2.resize(depth, (W, H), interpolation=cv2.INTER_NEAREST)
    mean = num / np.maximum(den, 1e-6)
    mixed = np.abs(mean - near) > 0.03 * np.maximum(near, 0.1)
    out = np.where(mixed & (near > 0), near, mean)
    return np.where(den >= 0.5, out, 0.0).astype(np.float32)


def _upsample(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Bilinear, except nearest where the 2x2 neighbourhood spans a depth edge (no flying pixels)."""
    H, W = size
    if x.shape == (H, W):
        return x
    lin = cv2.resize(x, (W, H), interpolation=cv2.INTER_LINEAR)
    near = cv2.resize(x, (W, H), interpolation=cv2.INTER_NEAREST)
    k = np.ones((2, 2), np.uint8)
    span = cv2.resize(cv2.dilate(x, k) - cv2.erode(x, k), (W, H), interpolation=cv2.INTER_NEAREST)
    return np.where(span > 0.03 * np.maximum(np.abs(near), 0.1), near, lin).astype(np.float32)


def range_input(max_range: float | None, centre: float, scale: float) -> np.ndarray:
    """The graph's ``range`` input [1,2]: (known flag, max range in the frame's normalised units)."""
    if max_range is None:
        return np.zeros((1, 2), np.float32)
    return np.array([[1.0, (max_range - centre) * 2.0 / scale]], np.float32)


DETAIL_SCALES = ((2, 15), (2, 7), (2, 3))  # camera-resolution windows for the hole detail (cell px, cells)


def local_range(depth: np.ndarray, window: float) -> tuple[np.ndarray, np.ndarray]:
    """Nearest and farthest measurement (depth > 0) in a square window around every pixel, ``window`` a fraction of
    the image's larger side (odd, at least 3 px); (0, inf) where the window holds no measurement."""
    side = max(3, int(round(window * max(depth.shape))) | 1)
    kernel = np.ones((side, side), np.uint8)
    valid = depth > 0  # NaN is not
    d = depth.astype(np.float32, copy=False)
    hi = cv2.dilate(np.where(valid, d, np.float32(0.0)), kernel)
    lo = cv2.erode(np.where(valid, d, np.float32(np.inf)), kernel)
    none = hi <= 0
    lo[none] = 0.0
    hi[none] = np.inf
    return lo, hi


def clip_to_local(rebuilt: np.ndarray, depth: np.ndarray, window: float, reach: float) -> np.ndarray:
    """``rebuilt`` with its raw holes (depth <= 0) clipped to the nearest and farthest measurement in a window
    ``window`` of the larger side (``local_range``). A hole rebuilt past ``LOCAL_FAR_REACH`` of ``reach`` (the
    sensor's range, or the frame's farthest measurement) is taken for an out-of-range hole and is not bounded from
    above: nothing nearby shows how far it goes (scripts/probe_range_clip.py)."""
    near, far = local_range(depth, window)
    far = np.where(rebuilt > LOCAL_FAR_REACH * reach, np.inf, far)
    return np.where(depth > 0, rebuilt, np.clip(rebuilt, near, far)).astype(np.float32)


def smooth_rebuilt(composite: np.ndarray, kept: np.ndarray, sigma_px: float, rel: float = 0.0,
                   work_size: tuple[int, int] | None = None, deep_from: tuple[float, float] = (0.0, 0.0),
                   deep_px: float = 0.0) -> np.ndarray:
    """``composite`` (kept raw depth, rebuilt depth elsewhere) with the rebuilt pixels smoothed in log depth: a
    Gaussian of ``sigma_px``, or with ``rel`` > 0 a bilateral filter that leaves relative depth steps well past
    ``rel`` standing. Kept pixels are untouched (they only take part as neighbours). With ``deep_px`` > 0, rebuilt
    pixels farther than ``deep_from`` = (start, full) px from any kept pixel blend, linearly between the two
    distances, into a plain Gaussian of ``deep_px`` of that result: an edge deep in a hole has no measurement
    behind it. With ``work_size`` (h, w) smaller than the image, the filter runs at that size (every width and
    distance in its pixels) and the change it makes is upsampled: a fraction of the cost, and the same result
    where the image is that size."""
    H, W = composite.shape
    if work_size is not None and tuple(work_size) != (H, W):
        h, w = work_size
        low = cv2.resize(composite, (w, h), interpolation=cv2.INTER_AREA)
        kept_low = cv2.resize(kept.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0.999
        change = smooth_rebuilt(low, kept_low, sigma_px, rel, deep_from=deep_from, deep_px=deep_px) - low
        return np.where(kept, composite, composite + cv2.resize(change, (W, H), interpolation=cv2.INTER_LINEAR))
    log = np.log(np.maximum(composite, 1e-3)).astype(np.float32)
    if rel > 0:
        smooth = cv2.bilateralFilter(log, 0, rel, sigma_px)
    elif sigma_px > 0:
        smooth = cv2.GaussianBlur(log, (0, 0), sigma_px)
    else:
        smooth = log
    if deep_px > 0 and deep_from[1] > deep_from[0]:
        smooth = np.where(kept, log, smooth)  # the deep filter sees the kept raw and the first filter's rebuild
        # capped at the full distance: with no kept pixel at all the transform gives huge distances (overflow)
        dist = np.minimum(cv2.distanceTransform((~kept).astype(np.uint8), cv2.DIST_L2, 3), deep_from[1])
        a = np.clip((dist - deep_from[0]) / (deep_from[1] - deep_from[0]), 0, 1).astype(np.float32)
        smooth = (1 - a) * smooth + a * cv2.GaussianBlur(smooth, (0, 0), deep_px)
    return np.where(kept, composite, np.exp(smooth)).astype(np.float32)


def _hole_detail(depth: np.ndarray, depth_low: np.ndarray, final_low: np.ndarray) -> np.ndarray:
    """What the camera-resolution measurements add inside holes that the model-resolution result
    cannot show: a planar fill at camera resolution (fine windows only, 2-px cells) minus the planar
    fill at model resolution it falls back to, upsampled (fill-guided upsampling of the learned
    result). Zero far from any measurement."""
    H, W = depth.shape
    low = cv2.resize(planar_fill(depth_low, final_low), (W, H), interpolation=cv2.INTER_LINEAR)
    return planar_fill(depth, low, DETAIL_SCALES) - low


def load_fusion(fusion: bool | str | Path, weights: Path):
    """The ``HoleFusion`` an enhancer with model ``weights`` uses (``DepthEnhancer``'s ``fusion``), or None.

    Raises ``BackendError`` for a missing, unlisted or corrupt file, ``ValueError`` for an unknown setting."""
    from .backends.base import BackendError, sha256_file, verify_weights
    from .evaluate.baselines import compiled_points
    from .hole_fusion import HoleFusion

    if fusion is False or fusion is None:
        return None
    auto = isinstance(fusion, str) and fusion == "auto"  # the shipped fusion, if it was fitted on these weights
    if auto and not DEFAULT_FUSION.exists():
        return None
    if not auto and compiled_points() is None:  # its fill: compiled (numba), else OpenCV's contrib module
        from .evaluate.baselines import require_ximgproc

        require_ximgproc("the hole fusion without numba")
    path = DEFAULT_FUSION if auto or fusion is True else fusion
    if not isinstance(path, (str, Path)):
        raise ValueError(f"fusion must be 'auto', True, False or a path, got {fusion!r}")
    verify_weights(path)
    try:
        hf = HoleFusion.load(path)
    except ValueError as e:
        raise BackendError(str(e)) from e
    if hf.model_sha256 is not None and hf.model_sha256 != sha256_file(weights):
        if auto:
            return None
        raise BackendError(f"hole fusion {path} was fitted on another model's outputs (sha256 "
                           f"{hf.model_sha256[:12]}...), not {Path(weights).name}'s; refit it or pass fusion=False")
    compiled_points()  # its fill's compiled kernel made ready at load time, not at the first frame
    return hf


class DepthEnhancer:
    """Dense metric depth + per-pixel 1-sigma uncertainty from RGB and raw sensor depth.

    The learned method keeps the raw pixels its gate trusts exactly and rebuilds the rest; rebuilt pixels are
    kept within the frame's measured range and smoothed by an edge-preserving filter in log depth
    (``HOLE_SMOOTH_PX``, ``HOLE_SMOOTH_REL``: the refiner copies RGB texture into the surfaces it rebuilds), and
    deep inside holes, where no measurement backs an edge, by a plain Gaussian (``HOLE_DEEP_FROM``,
    ``HOLE_DEEP_PX``). Surfaces nearer than the sensor's minimum range come back as holes and are rebuilt at
    the depth of their surroundings (too far): near the camera, rebuilt pixels are unknown, not free space.

    ``enhance`` may be called from several threads at once: the graph runs one frame at a time (a lock; a GPU's
    buffers and the CPU's cores are not shared out), the CPU's work around it in parallel, and each frame comes out
    as it does alone.

    Args:
        method: "learned" (default: the shipped two-stage model) or a classical method name
            ("guided_fill", "ip_basic", "inpaint_telea", "inpaint_ns", "joint_bilateral",
            "colorization", "raw").
        weights: safetensors checkpoint of the learned model (default: the shipped one).
        backend: "auto", "onnxruntime", "torch", "tensorrt" (learned model only).
        samples, steps: K stochastic samples and S denoiser steps (learned model only).
        model_width: the longer image side the learned model runs at (the width of a landscape camera; the
            other side follows the aspect ratio).
        seed: seed of the sampling noise (runs are reproducible).
        noise: "fixed" draws the K samples' initial noise once (per model input size) and reuses it for every
            frame, so a stream's rebuilt depth does not flicker with the draw (on the 7-Scenes gap block the
            frame-to-frame change in raw holes fell from 17.4 to 15.4 mm); "fresh" draws it anew each frame.
        max_range_m: the depth sensor's maximum range in metres (None or 0: unknown). Models trained with it
            (``refiner_range``) use it to tell holes past the sensor's reach (open doors, corridors, windows)
            from holes on surfaces it could have measured; other models and the classical methods ignore it.
        fusion: the learned hole fusion (hole_fusion.py) that weighs every rebuilt pixel against a colour-guided
            joint bilateral fill at camera resolution: "auto" (default) uses the shipped one with the weights it
            was fitted on (the shipped model, wherever its file lies) and none with other weights; True the shipped
            one; False none; or a path to a trained file (checked against the manifest.json beside it, like the
            model's weights, and refused if it records that it was fitted on another model's outputs).
        local_window: rebuilt depth in raw holes stays between the nearest and the farthest measurement in a
            window this fraction of the image's larger side wide (0: only the frame-wide bound), except that a hole
            rebuilt past ``LOCAL_FAR_REACH`` of the sensor's reach is not bounded from above; the clipped amount
            joins the 1-sigma.
        threads: CPU threads to compute with (0: every core this process may use; a process pinned to some cores
            (taskset, a cpuset) or under a cgroup CPU quota keeps ONNX Runtime's threads to them). It caps ONNX
            Runtime's session and, process-wide, torch and OpenCV: on a robot, leave cores to SLAM and planners.
        sigma_scale: the published 1-sigma is multiplied by this (a calibration for a sensor: calibrated on
            synthetic frames, the sigma is conservative on real ones; ``perfecting-depth check`` suggests a scale
            from your own frames). Depth is not touched; it can be changed between frames.
        keep_measurements: publish every raw measurement as it is (the learned model then rebuilds holes only):
            a measurement it judges wrong is kept, and its distance from the model's estimate joins its 1-sigma in
            quadrature, so a consumer still sees it is doubtful. For a planner that must never lose a measured
            obstacle; it can be changed between frames.
        beyond_range_sigmas: with a known sensor range (``max_range_m``), rebuilt pixels whose depth plus this many
            1-sigmas reaches past it are given no value (``drop_beyond_range``): holes a planner should not take for
            a surface nearer than the range. 0: off; methods without a 1-sigma are not affected; it can be changed
            between frames.
        min_range_m: the depth sensor's minimum range in metres (None or 0: unknown); used by
            ``below_range_sigmas`` only.
        below_range_sigmas: with a known minimum range, rebuilt pixels whose depth minus this many 1-sigmas reaches
            below it are given no value (``drop_below_range``): holes that may be a surface too near for the sensor,
            which every fill rebuilds too far. 0: off; methods without a 1-sigma are not affected; it can be changed
            between frames.
        precision: the graph's arithmetic on a GPU: "auto" (TensorRT engines in FP16 with the raw depth's geometry
            in FP32, every other route FP32), "fp32" (FP32 everywhere: the fallback if an FP16 engine misbehaves)
            or "fp16" (ONNX Runtime's GPU providers on the FP16 copy too). The CPU routes run FP32 whatever is asked.
            ``backend`` may also be a ``Backend`` instance of one's own (its graph outputs as the shipped graph's).
        verify: check the backend against the FP32 reference, ONNX Runtime on the CPU running the same graph, on the
            first frame of each model input size (backends/verify.py): "auto" checks the GPU routes and FP16 graphs,
            which cannot be tested where the package is built; "always" every route but the reference; "off" none.
            Where the two disagree more than FP16 and TF32 arithmetic do, the enhancer logs an error, runs the
            reference from then on and says so in ``verification`` (the frame itself comes from the reference).
        verify_period: > 0: check again every this many seconds (a fault that appears after the first frame of a
            size); each check runs the graph once on the CPU, under the lock, and the reference session is kept
            between checks. 0: the first frame of each size only. It can be changed between frames.
        brighten_dark_guide: learned model: a colour guide darker than the median of the frames the model was
            trained on (a dim room, night) is brought up to it and smoothed before enhancing, more the darker it is,
            and a black one replaced by a flat grey (``dark_guide.py``; ``out.guide_gain`` says by how much, 0 for
            the grey); guides at that median or brighter are not touched.
            The classical fills take the guide as it comes (brightened, joint bilateral's colour weights follow the
            amplified noise). It can be changed between frames.
    """

    def __init__(self, method: str = "learned", weights: str | Path | None = None, backend: str = "auto",
                 samples: int = 4, steps: int = 2, model_width: int = 320, seed: int = 0,
                 device: str = "cpu", noise: str = "fixed", max_range_m: float | None = None,
                 local_window: float = LOCAL_WINDOW, fusion: bool | str | Path = "auto", sigma_scale: float = 1.0,
                 threads: int = 0, keep_measurements: bool = False, beyond_range_sigmas: float = 0.0,
                 min_range_m: float | None = None, below_range_sigmas: float = 0.0, precision: str = "auto",
                 verify: str = "auto", verify_period: float = 0.0, brighten_dark_guide: bool = True):
        from .backends.base import PRECISIONS, Backend
        from .backends.verify import VERIFY_MODES

        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if verify not in VERIFY_MODES:
            raise ValueError(f"verify must be one of {VERIFY_MODES}, got {verify!r}")
        self.verify = verify
        self.verification = "off" if verify == "off" else "n/a"  # what the check found (the node reports it)
        self.verification_failed = False
        self.agreement = None  # the last check's backends.verify.Agreement
        self._verified: dict[tuple[int, int], float] = {}  # model input sizes checked already: when (monotonic s)
        self._reference = None  # the reference backend, kept between checks while verify_period is set
        self.verify_period = verify_period  # checked by its setter
        self.sigma_scale = sigma_scale  # checked by its setter
        self.beyond_range_sigmas = beyond_range_sigmas  # checked by its setter
        self.below_range_sigmas = below_range_sigmas  # checked by its setter
        self.min_range_m = check_min_range(min_range_m)
        self.keep_measurements = bool(keep_measurements)
        self.brighten_dark_guide = bool(brighten_dark_guide)
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or not 0 <= threads <= 1024:
            raise ValueError(f"threads must be an integer in [0, 1024] (0: the libraries' defaults), got {threads!r}")
        self.threads = int(threads)
        if self.threads:
            cv2.setNumThreads(self.threads)  # process-wide, like torch's
        if not 0 <= local_window < 1:
            raise ValueError(f"local_window must be a fraction of the image side in [0, 1), got {local_window!r}")
        self.local_window = float(local_window)
        if noise not in NOISE_MODES:
            raise ValueError(f"noise must be one of {NOISE_MODES}, got {noise!r}")
        self.max_range_m = check_max_range(max_range_m)
        self.method = method
        self.noise_mode = noise
        self._noise: np.ndarray | None = None
        self.samples, self.steps, self.model_width = samples, steps, model_width
        self.seed = seed
        self._rng = np.random.default_rng(seed)
        self._classical = None
        self._graph_lock = threading.Lock()
        self.fusion = None
        self._fusion_note = ""  # the description's note: the fusion on (and its fill), or why the one asked for is off
        self._precision_note = ""  # the description's note where the graph runs its FP16 copy
        self.backend_name = "classical"
        if method == "learned":
            from .backends import create_backend

            path = Path(weights) if weights else DEFAULT_WEIGHTS
            self.weights = path
            self._supplied = isinstance(backend, Backend)  # one of the caller's: checked by verify "auto" too
            if self._supplied:
                from .backends.base import verify_weights

                verify_weights(path)  # the reference (verify) runs these weights: checked as create_backend does
                self.backend = backend
            else:
                self.backend = create_backend(backend, path, samples=samples, steps=steps, device=device,
                                              threads=self.threads, precision=precision)
            self.backend_name = self.backend.name
            from .backends.verify import is_reference, needs_verify

            precision_used = getattr(self.backend, "precision", "fp32")  # a supplied backend may not say
            if needs_verify(verify, self.backend_name, precision_used, self._supplied):
                self.verification = "pending: checked against ONNX Runtime on the CPU at the first frame"
            elif verify != "off":
                self.verification = ("not needed: ONNX Runtime on the CPU in FP32 is the reference"
                                     if is_reference(self.backend_name, precision_used)
                                     else "not checked: a CPU route (verify 'always' checks it)")
            self._precision_note = " fp16" if precision_used.startswith("fp16") else ""  # said once, here
            self.stride = self.backend.stride
            from .evaluate.baselines import compiled_points

            if isinstance(fusion, str) and fusion == "auto" and not hasattr(cv2, "ximgproc") and compiled_points() is None:
                # the fusion's fill needs numba or OpenCV's contrib module: without either, the fast path, said so
                import warnings

                self._fusion_note = " (hole fusion off: no numba, and this OpenCV has no ximgproc)"
                warnings.warn(f"hole fusion off: its fill needs numba (pip install numba) or OpenCV's contrib module "
                              f"ximgproc, which OpenCV {cv2.__version__} lacks (opencv-contrib-python-headless or "
                              "Ubuntu's python3-opencv have it)", RuntimeWarning, stacklevel=2)
                fusion = False
            self.fusion = load_fusion(fusion, path)
            if self.fusion is not None:  # said in every frame's description: read once, here
                self._fusion_note = " +hole_fusion" + ("" if compiled_points() else " (its fill without numba: slower)")
        else:
            from .evaluate.baselines import BASELINES

            if method not in BASELINES:
                raise ValueError(f"unknown method {method!r}; choose 'learned' or one of {sorted(BASELINES)}")
            self._classical = BASELINES[method]
            if self._classical.needs_ximgproc:
                from .evaluate.baselines import require_ximgproc

                require_ximgproc(method)

    @property
    def sigma_scale(self) -> float:
        """Factor on the published 1-sigma (see the class docstring)."""
        return self._sigma_scale

    @sigma_scale.setter
    def sigma_scale(self, value: float) -> None:
        if isinstance(value, bool) or not (isinstance(value, (int, float)) and np.isfinite(value) and 0 < value <= 100):
            raise ValueError(f"sigma_scale must be a number in (0, 100], got {value!r}")
        self._sigma_scale = float(value)

    @property
    def beyond_range_sigmas(self) -> float:
        """Rebuilt pixels whose depth plus this many 1-sigmas reaches past the sensor's range get no value (0: off)."""
        return self._beyond_range_sigmas

    @beyond_range_sigmas.setter
    def beyond_range_sigmas(self, value: float) -> None:
        self._beyond_range_sigmas = check_range_sigmas("beyond_range_sigmas", value)

    @property
    def below_range_sigmas(self) -> float:
        """Rebuilt pixels whose depth minus this many 1-sigmas reaches below the sensor's minimum range get no value
        (0: off)."""
        return self._below_range_sigmas

    @below_range_sigmas.setter
    def below_range_sigmas(self, value: float) -> None:
        self._below_range_sigmas = check_range_sigmas("below_range_sigmas", value)

    @property
    def reads_range(self) -> bool:
        """Whether this enhancer's model uses the sensor's max range (classical methods and older models do not)."""
        return self._classical is None and bool(getattr(self.backend, "takes_range", False))

    @property
    def description(self) -> str:
        if self._classical is not None:
            return f"classical:{self.method}"
        return f"learned:{self.backend_name}{self._precision_note} K={self.samples} S={self.steps}{self._fusion_note}"

    def enhance(self, rgb: np.ndarray, depth: np.ndarray, intrinsics: np.ndarray | None = None,
                max_range_m: float | None = None, min_range_m: float | None = None) -> EnhancedDepth:
        """Enhance one frame. Raises ``ValueError`` on bad input (see ``check_inputs``).

        ``max_range_m`` / ``min_range_m`` override the enhancer's sensor max / min range for this frame (None: the
        enhancer's)."""
        t0 = time.perf_counter()
        max_range = self.max_range_m if max_range_m is None else check_max_range(max_range_m)
        min_range = self.min_range_m if min_range_m is None else check_min_range(min_range_m)
        rgb, depth = check_inputs(rgb, depth)
        K = check_intrinsics(intrinsics, depth.shape) if intrinsics is not None else None
        if self.brighten_dark_guide and self._classical is None:  # measured and chosen for the learned model only
            rgb, gain, brightness = brighten_dark_guide(rgb)
        else:
            gain, brightness = 1.0, guide_brightness(rgb)
        if self._classical is not None:
            d, sigma = self._classical.fill(rgb, depth)
            t1 = time.perf_counter()
            if sigma is None:
                sigma = np.full(d.shape, np.nan, np.float32)
            out = EnhancedDepth(d.astype(np.float32), sigma.astype(np.float32), self.description, "numpy",
                                {"inference_ms": (t1 - t0) * 1e3})
        else:
            out = self._enhance_learned(rgb, depth, t0, max_range)
            if self.keep_measurements:
                out.depth, out.uncertainty = keep_all_measurements(depth, out.depth, out.uncertainty)
        out.source = depth_source(depth, out.depth)
        out.guide_gain, out.guide_brightness = gain, brightness
        if self._sigma_scale != 1.0:
            out.uncertainty = out.uncertainty * np.float32(self._sigma_scale)  # float32 stays float32
        if self._beyond_range_sigmas > 0 and max_range is not None:
            out.depth, out.uncertainty, out.source = drop_beyond_range(out.depth, out.uncertainty, out.source, max_range,
                                                                       self._beyond_range_sigmas)
        if self._below_range_sigmas > 0 and min_range is not None:
            out.depth, out.uncertainty, out.source = drop_below_range(out.depth, out.uncertainty, out.source, min_range,
                                                                      self._below_range_sigmas)
        if K is not None:
            out.points = backproject(out.depth, K)
        out.timings["total_ms"] = (time.perf_counter() - t0) * 1e3
        return out

    def _check_backend(self, inputs: dict[str, np.ndarray], res: dict[str, np.ndarray], scale: float,
                       valid: np.ndarray) -> dict[str, np.ndarray]:
        """The first frame of a model input size, and one each ``verify_period``: compare the backend's graph outputs
        ``res`` with the reference's (``verify``) and return the outputs to use. Called under the graph lock."""
        from .backends.verify import compare_outputs, needs_verify

        size = tuple(valid.shape)
        say = log.info if size not in self._verified else log.debug  # a check that repeats is logged when it fails
        self._verified[size] = time.monotonic()
        name, precision = self.backend_name, getattr(self.backend, "precision", "fp32")
        if not needs_verify(self.verify, name, precision, self._supplied):
            return res
        try:
            from .backends.base import verify_weights
            from .backends.onnx_backend import OnnxRuntimeBackend

            reference = self._reference or OnnxRuntimeBackend(self.weights, verify_weights(self.weights), self.samples,
                                                              self.steps, prefer_gpu=False, threads=self.threads)
            self._reference = reference if self._verify_period > 0 else None  # kept only where checks recur
            ref = reference.run(inputs)
        except Exception as e:  # no reference to be had (an export needing torch, a full disk): said, not fatal
            self.verification = f"not checked at {size[1]}x{size[0]}: no reference ({type(e).__name__}: {e})"
            (log.warning if say is log.info else log.debug)("backend %s %s", name, self.verification)
            return res
        agreement = self.agreement = compare_outputs(ref, res, scale, valid)
        if agreement.ok:
            self.verification = f"{name} agrees with {reference.name} (FP32) at {size[1]}x{size[0]}: {agreement.summary()}"
            say("backend %s", self.verification)
            return res
        hint = " (graph_precision: fp32 runs it in FP32)" if precision.startswith("fp16") else ""  # TensorRT's too
        self.verification = (f"FAILED: {name} disagrees with {reference.name} (FP32) at {size[1]}x{size[0]}: "
                             f"{agreement.summary()}; running {reference.name} from now on{hint}")
        self.verification_failed = True
        log.error("backend check %s", self.verification)
        self.backend, self.backend_name, self._precision_note = reference, reference.name, ""
        self._reference = None
        self._supplied = False
        self.verify = "off"  # the reference needs no check at any size
        return ref

    @property
    def verify_period(self) -> float:
        """Seconds between checks of the backend against the reference (0: the first frame of each size only)."""
        return self._verify_period

    @verify_period.setter
    def verify_period(self, value: float) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
            raise ValueError(f"verify_period must be a finite number of seconds >= 0, got {value!r}")
        self._verify_period = float(value)
        if not value:
            self._reference = None

    def _check_due(self, size: tuple[int, int]) -> bool:
        """Whether the backend is to be checked at this frame of model input ``size`` (``verify``, ``verify_period``)."""
        last = self._verified.get(size)
        return last is None or (self._verify_period > 0 and time.monotonic() - last >= self._verify_period)

    def _draw_noise(self, shape: tuple[int, ...]) -> np.ndarray:
        """The samples' initial noise: drawn once per model input size and reused ("fixed"; always the first draw of
        the seed, so a frame's result does not depend on the sizes of the frames before it), or drawn for every
        frame ("fresh")."""
        if self.noise_mode == "fresh":
            return self._rng.standard_normal(shape).astype(np.float32)
        if self._noise is None or self._noise.shape != shape:
            self._noise = np.random.default_rng(self.seed).standard_normal(shape).astype(np.float32)
        return self._noise

    def _enhance_learned(self, rgb: np.ndarray, depth: np.ndarray, t0: float, max_range: float | None) -> EnhancedDepth:
        H, W = depth.shape
        valid = depth > 0
        if valid.sum() < MIN_VALID_PIXELS:
            raise ValueError(f"only {int(valid.sum())} valid depth pixels; need at least {MIN_VALID_PIXELS}")
        # 1. resize to the model size and normalise per frame
        h, w = model_size_for(H, W, self.model_width)
        rgb_m = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA) if (h, w) != (H, W) else rgb
        d_m = _resize_depth(depth, (h, w))
        m_m = d_m > 0
        if m_m.sum() < 16:
            raise ValueError("too few valid depth pixels after resizing to the model size")
        centre, scale = depth_stats(d_m, m_m)
        d_near, d_far = float(d_m[m_m].min()), float(d_m[m_m].max())
        # the sensor reached at least its farthest measurement, whatever its stated range
        reach = d_far if max_range is None else max(max_range, d_far)
        inputs = {
            "rgb": (rgb_m.astype(np.float32) / 255.0).transpose(2, 0, 1)[None],  # [1,3,h,w]
            "depth": np.where(m_m, normalize(d_m, centre, scale), 0)[None, None].astype(np.float32),
            "mask": m_m[None, None].astype(np.float32),
            "noise": self._draw_noise((1, self.samples, 1, h // self.stride, w // self.stride)),
            "range": range_input(None if max_range is None else reach, centre, scale),
        }
        # 2. one backend call runs the whole graph, one frame at a time (a CUDA graph's or TensorRT's buffers, the
        # CPU's cores): threads that enhance at once overlap only the work around it
        t1 = time.perf_counter()
        with self._graph_lock:
            t_graph = time.perf_counter()
            res = self.backend.run(inputs)
            if self.verify != "off" and self._check_due((h, w)):
                res = self._check_backend(inputs, res, scale, m_m)
            t2 = time.perf_counter()
        for k in ("final", "sigma", "gate"):
            if not np.all(np.isfinite(res[k])):  # a healthy graph never does this: treat it as a backend fault
                from .backends import BackendError

                raise BackendError(f"backend {self.backend_name} returned non-finite {k}")
        # 3. back to metres and to the camera size; reliable raw pixels are kept at full resolution
        final = denormalize(res["final"][0, 0], centre, scale)
        if EDGE_SIDE_PX > 0:  # at the model's size: rebuilt pixels at depth edges take the side their colour matches
            px = max(h, w) / 320
            final = choose_edge_side(final, d_m, (res["gate"][0, 0] > 0.5) & m_m, rgb_m, EDGE_SIDE_PX * px,
                                     max(1, round(EDGE_SIDE_WINDOW * px)), replace=EDGE_SIDE_REPLACE, gap=EDGE_SIDE_GAP)
        # the refiner predicts a Laplace scale b; its standard deviation (the published 1-sigma) is sqrt(2) b
        sigma = (res["sigma"][0, 0] * (scale / 2.0) * np.sqrt(2.0)).astype(np.float32)
        spread = (res["spread"][0, 0] * (scale / 2.0)).astype(np.float32)
        gate = res["gate"][0, 0].astype(np.float32)
        if final.shape != (H, W):
            detail = 0.0 if valid.all() else np.where(valid, 0, _hole_detail(depth, d_m, final))
            final = _upsample(final, (H, W)) + detail  # holes get the detail the full-resolution measurements carry
        sigma = _upsample(sigma, (H, W))
        spread = _upsample(spread, (H, W))
        gate = cv2.resize(gate, (W, H), interpolation=cv2.INTER_LINEAR) if gate.shape != (H, W) else gate
        gate = np.where(valid, gate, 0.0)
        keep = gate > KEEP_GATE
        if (HOLE_SMOOTH_PX > 0 or HOLE_DEEP_PX > 0) and not keep.all():
            px = max(h, w) / 320  # the widths are set in pixels at 320 px wide
            final = smooth_rebuilt(np.where(keep, depth, final), keep, HOLE_SMOOTH_PX * px, HOLE_SMOOTH_REL,
                                   work_size=(h, w),  # at the model's size: a fraction of the cost
                                   deep_from=(HOLE_DEEP_FROM[0] * px, HOLE_DEEP_FROM[1] * px), deep_px=HOLE_DEEP_PX * px)
        # rebuilt depth stays within the frame's measured range (half the nearest to twice the farthest
        # measurement): extrapolation past it is not trusted, and the clipped amount joins the 1-sigma
        lo, hi = RANGE_MARGIN[0] * d_near, RANGE_MARGIN[1] * d_far
        bounded = np.clip(final, lo, hi)
        if self.local_window > 0:
            bounded = clip_to_local(bounded, depth, self.local_window, reach)
        sigma = np.maximum(sigma, np.abs(bounded - final)).astype(np.float32)
        if not valid.all():
            # a hole rebuilt past the nearest or farthest measurement around it is extrapolated: that distance
            # joins its 1-sigma in quadrature (scripts/probe_stray_sigma.py); no measurement in reach: no term
            near, far = local_range(depth, STRAY_WINDOW)
            stray = np.maximum(near - bounded, 0) + np.maximum(bounded - far, 0)
            sigma = np.where(valid, sigma, np.sqrt(sigma * sigma + stray * stray)).astype(np.float32)
        final = np.where(keep, depth, bounded)  # the gate's decision: keep the measurement exactly
        t3 = time.perf_counter()
        kept_depth = np.where(keep, depth, 0).astype(np.float32)
        classical = None
        if self.fusion is not None and not keep.all():
            # rebuilt pixels weighed against a colour-guided fill at camera resolution (hole_fusion.py)
            classical = self.fusion.classical(rgb, kept_depth)
            fused = self.fusion.fuse(rgb, kept_depth, final, sigma, spread, classical, max_range)
            final = np.where(keep, depth, np.clip(fused, lo, hi)).astype(np.float32)
        t4 = time.perf_counter()
        if NEAR_CAP_FACTOR > 0 and classical is not None:
            # holes below the sensor's minimum range no farther than the classical fill (near_holes.py); it comes
            # with the fusion's fill: without the fusion no classical fill is run (the fast path)
            final = cap_near_holes(final, kept_depth, NEAR_CAP_FACTOR, classical)
        if HOLE_SHAPE_PX > 0 and not valid.all():
            px = max(H, W) / 320
            final = np.where(keep, depth, colour_shape(final, rgb, depth, kept_depth, HOLE_SHAPE_PX * px,
                                                       (HOLE_SHAPE_RAMP[0] * px, HOLE_SHAPE_RAMP[1] * px)))
        t5 = time.perf_counter()
        return EnhancedDepth(final.astype(np.float32), sigma, self.description, self.backend_name,
                             {"preprocess_ms": (t1 - t0) * 1e3, "graph_wait_ms": (t_graph - t1) * 1e3,
                              "inference_ms": (t2 - t_graph) * 1e3,
                              "postprocess_ms": (t3 - t2) * 1e3, "fusion_ms": (t4 - t3) * 1e3,
                              "near_cap_ms": (t5 - t4) * 1e3},
                             spread=spread, raw_reliability=gate)
