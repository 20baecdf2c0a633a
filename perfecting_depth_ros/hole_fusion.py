"""Hole fusion: a learned per-pixel weighing of the model's rebuilt depth against a colour-guided classical fill.

The refiner runs at 320 px wide. At camera resolution, on real frames, a joint bilateral fill guided by the colour
rebuilds depth edges in holes better than the upsampled learned depth, and the learned depth is better elsewhere:
the two are wrong in different places (on the 7-Scenes gap block's hidden blobs the better of the two, pixel by
pixel, has about 0.6x the error of either). A tiny MLP decides, for every rebuilt pixel, how much of each to take,
from cues known at run time: the distance to the nearest kept measurement, how much the two disagree, the colour
gradient and both depths' gradients, the depth range of the measurements around, and the model's own 1-sigma and
sample spread. The classical fill takes part only near kept measurements (``reach``). The MLP is fitted by
``train/fusion.py`` on hidden blobs of the real 7-Scenes training frames and on the rebuilt pixels of synthetic
training frames, with the shipped model's outputs as they are at run time; kept measurements are never touched.

The MLP runs in numpy (a few hundred weights); its weights live in their own safetensors file beside the model's.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from .enhancer import local_range

FEATURE_NAMES = ("log_dist", "colour_grad", "depth_grad", "local_range", "rel_sigma", "rel_spread",
                 "rel_diff", "abs_rel_diff", "log_depth", "classical_grad",
                 # for fills deep inside holes (a fusion file fitted on 13): a dark surface or a view past the range?
                 "brightness", "log_rim_over_reach", "log_learned_over_rim")
BASE_FEATURES = 10  # the features of the fits before the sixth round; the others are computed only when asked for
BRIGHTNESS_WINDOW = 9  # px at REFERENCE_SIDE
REFERENCE_SIDE = 640  # distances and windows are measured in pixels of an image this wide (larger side)
RANGE_WINDOW = 15  # local_range window (px at REFERENCE_SIDE)
LAYERS = ("l0", "l1", "l2")
CLASSICAL_DIAMETERS = (5, 9, 17)  # the joint bilateral windows of a fusion file that does not name its own


def classical_fill(rgb: np.ndarray, kept_depth: np.ndarray, diameters: tuple[int, ...] = CLASSICAL_DIAMETERS
                   ) -> np.ndarray:
    """The colour-guided classical fill the learned depth is weighed against: joint bilateral with these window
    diameters in turn (each pass reads the fill of the ones before), NaN where none of its windows reached a kept
    measurement (the learned depth stands alone there). It works at half resolution up to 640 px wide (the fits'
    frames), and at REFERENCE_SIDE / 2 px wide above that, so its windows cover the same share of the scene."""
    from .evaluate.baselines import JointBilateralFill

    return JointBilateralFill(diameters=tuple(diameters)).fill_local(rgb, kept_depth, max_side=REFERENCE_SIDE // 2)


def fusion_fill(rgb: np.ndarray, kept_depth: np.ndarray, diameters: tuple[int, ...] = CLASSICAL_DIAMETERS,
                dense: bool = False) -> np.ndarray:
    """The classical fill a fusion is fitted and run with: ``classical_fill``, and where ``dense``, closed by
    Navier-Stokes where its windows did not reach (it then takes part deep inside holes too)."""
    fill = classical_fill(rgb, kept_depth, diameters)
    if dense:
        from .evaluate.baselines import close_holes

        fill = close_holes(fill)[0]
    return fill


def parse_diameters(text: str | None) -> tuple[int, ...]:
    """The ``classical_diameters`` metadata of a fusion file ("5,9,17"; None: CLASSICAL_DIAMETERS); ``ValueError``
    unless it names 1-6 odd window diameters from 3 to 63."""
    if text is None:
        return CLASSICAL_DIAMETERS
    try:
        dia = tuple(int(v) for v in text.split(","))
    except ValueError:
        dia = ()
    if not 1 <= len(dia) <= 6 or any(d % 2 == 0 or not 3 <= d <= 63 for d in dia):
        raise ValueError(f"hole fusion classical_diameters must be 1-6 odd diameters 3-63, got {text!r}")
    return dia


def fusion_features(rgb: np.ndarray, kept_depth: np.ndarray, rebuilt: np.ndarray, classical: np.ndarray,
                    sigma: np.ndarray, spread: np.ndarray, where: np.ndarray, n_features: int = BASE_FEATURES,
                    max_range: float | None = None) -> np.ndarray:
    """[N, n_features] float32 features (the first ``n_features`` of FEATURE_NAMES) of the pixels ``where`` is True.
    ``kept_depth`` holds the kept measurements (0 elsewhere), ``rebuilt`` the learned depth, ``classical`` the
    classical fill, ``sigma`` and ``spread`` the model's 1-sigma and sample spread, all HxW metres; ``max_range`` the
    sensor's stated range (None: unknown), read by the last two features through the sensor's reach (its range, at
    least the frame's farthest kept measurement)."""
    H, W = kept_depth.shape
    px = max(H, W) / REFERENCE_SIDE
    kept = kept_depth > 0
    idx = np.flatnonzero(where)

    def at(a: np.ndarray) -> np.ndarray:  # a[where], the index found once for every map
        return np.take(a, idx)

    def grad_at(img: np.ndarray) -> np.ndarray:  # the Sobel gradient's magnitude at those pixels
        return np.hypot(at(cv2.Sobel(img, cv2.CV_32F, 1, 0)), at(cv2.Sobel(img, cv2.CV_32F, 0, 1)))

    dist = cv2.distanceTransform((~kept).astype(np.uint8), cv2.DIST_L2, 3)
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
    log_d = np.log(np.maximum(rebuilt, 1e-3)).astype(np.float32)
    near, far = (at(v) for v in local_range(kept_depth, RANGE_WINDOW / REFERENCE_SIDE))
    spans = np.isfinite(far)  # the window holds a kept measurement
    depth_range = np.zeros(far.shape, np.float32)
    depth_range[spans] = np.log(np.maximum(far[spans], 1e-3)) - np.log(np.maximum(near[spans], 1e-3))
    learned = at(rebuilt)
    L = np.maximum(learned, 0.1)
    diff = (learned - at(classical)) / L
    log_c = np.log(np.maximum(np.nan_to_num(classical, nan=0.0), 1e-3)).astype(np.float32)
    log_c = np.where(np.isfinite(classical), log_c, log_d)
    cols = [np.log1p(at(dist) / px), grad_at(grey), grad_at(log_d), depth_range,
            at(sigma) / L, at(spread) / L, diff, np.abs(diff), np.log(L), grad_at(log_c)]
    if n_features > BASE_FEATURES:
        from .near_holes import nearest_kept_depth

        k = max(3, int(round(BRIGHTNESS_WINDOW * px)) | 1)
        rim = np.maximum(nearest_kept_depth(kept, kept_depth, where), 1e-3)
        reach = max(float(max_range or 0.0), float(kept_depth.max()))
        cols += [at(cv2.blur(grey, (k, k))), np.log(rim / reach), np.log(L / rim)]
    x = np.empty((idx.size, n_features), np.float32)  # filled column by column: no stacked float64 copy
    for i, col in enumerate(cols[:n_features]):
        x[:, i] = col
    return np.nan_to_num(x, copy=False, nan=0.0, posinf=0.0, neginf=0.0)


def reach_ramp(log_dist, reach: float):
    """1 up to ``reach`` px from the nearest kept measurement, 0 past twice that, linear between (numpy or torch)."""
    dist = log_dist.exp() - 1 if hasattr(log_dist, "exp") else np.expm1(log_dist)
    return ((2.0 - dist / reach).clip(0.0, 1.0)) if reach > 0 else dist * 0.0 + 1.0


def _dense_layer(xt: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``weight @ xt + bias`` for features in rows and pixels in columns ([F, N] -> [O, N]), without BLAS: einsum's
    own loops, whose sums then run along the pixels (a third of the time of the [N, F] layout's). OpenBLAS threads
    spin after a call and took a core from the ONNX Runtime graph of the next frame (its time rose from 57 to 100-140
    ms at 320x240 on 2 cores)."""
    return np.einsum("of,fn->on", weight, xt, optimize=False) + bias[:, None]


def _gelu(x: np.ndarray) -> np.ndarray:
    """GELU, tanh form (torch.nn.GELU(approximate="tanh"), as trained), in place on float32 ``x``."""
    t = x * x
    t *= np.float32(0.7978845608 * 0.044715)
    t += np.float32(0.7978845608)
    t *= x
    np.tanh(t, out=t)
    t += 1.0
    t *= x
    t *= 0.5
    return t


class HoleFusion:
    """The trained weighing: ``fuse`` returns rebuilt pixels as w * learned + (1 - w) * classical.

    The file's metadata names the classical fill's windows it was fitted with ("classical_diameters"; files without
    it were fitted with CLASSICAL_DIAMETERS), and ``fuse`` uses the same.

    ``params`` holds "mean" and "std" (feature normalisation), l0/l1/l2 ".weight" [out, in] and ".bias", and
    "reach" [1]: the classical fill takes part fully up to ``reach`` px (at REFERENCE_SIDE) from the nearest kept
    measurement and fades out by twice that; deeper in a hole no measurement backs it (on validation frames it
    made deep and out-of-range holes worse).
    """

    def __init__(self, params: dict[str, np.ndarray], metadata: dict[str, str] | None = None):
        need = ["mean", "std", "reach"] + [f"{n}.{p}" for n in LAYERS for p in ("weight", "bias")]
        missing = [k for k in need if k not in params]
        if missing:
            raise ValueError(f"hole fusion weights lack {missing}")
        self.p = {k: np.asarray(params[k], np.float32) for k in need}
        n = self.p["mean"].shape[0] if self.p["mean"].ndim == 1 else -1
        if not 1 <= n <= len(FEATURE_NAMES) or self.p["l0.weight"].shape[1] != n:
            raise ValueError(f"hole fusion weights are for {self.p['mean'].shape} features, not the first 1-"
                             f"{len(FEATURE_NAMES)} of {FEATURE_NAMES}")
        self.n_features = n  # a file fitted on fewer features (an earlier fit) reads the first n
        if self.p["l2.weight"].shape[0] != 1:
            raise ValueError("hole fusion weights must end in one output (the learned depth's weight)")
        bad = [k for k, v in self.p.items() if not np.all(np.isfinite(v))]
        if bad or self.p["reach"].size != 1 or not self.p["reach"].ravel()[0] > 0 or np.any(self.p["std"] <= 0):
            raise ValueError(f"hole fusion weights are corrupt (non-finite {bad}, or a reach or std that is not "
                             "positive)")
        self.metadata = dict(metadata or {})
        self.diameters = parse_diameters(self.metadata.get("classical_diameters"))  # the fill it was fitted with
        # fitted on the classical fill closed by Navier-Stokes (dense: it takes part deep inside holes too)
        self.dense = self.metadata.get("dense_classical", "0") == "1"

    @property
    def model_sha256(self) -> str | None:
        """sha256 of the model weights whose outputs it was fitted on (None if not recorded)."""
        return self.metadata.get("model_sha256")

    @classmethod
    def load(cls, path: str | Path) -> HoleFusion:
        """Read a safetensors file; ``ValueError`` when it is not a hole fusion file."""
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as f:
                params = {k: f.get_tensor(k) for k in f.keys()}
                metadata = f.metadata()
        except Exception as e:  # truncated or not safetensors
            raise ValueError(f"cannot read hole fusion weights {path}: {e}") from e
        return cls(params, metadata)

    def weight(self, x: np.ndarray) -> np.ndarray:
        """Weight of the learned depth, in (0, 1], for [N, F] features (1 past twice ``reach``)."""
        h = np.array(x[:, : self.n_features].T, np.float32, order="C")  # [F, N], a copy: see _dense_layer
        h -= self.p["mean"][:, None]
        h /= self.p["std"][:, None]
        h = _gelu(_dense_layer(h, self.p["l0.weight"], self.p["l0.bias"]))
        h = _gelu(_dense_layer(h, self.p["l1.weight"], self.p["l1.bias"]))
        z = _dense_layer(h, self.p["l2.weight"], self.p["l2.bias"])[0]
        w = 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))
        return (1.0 - (1.0 - w) * reach_ramp(x[:, 0], float(self.p["reach"].ravel()[0]))).astype(np.float32)

    def classical(self, rgb: np.ndarray, kept_depth: np.ndarray) -> np.ndarray:
        """The classical fill this file was fitted with (``fusion_fill`` with its windows and ``dense``)."""
        return fusion_fill(rgb, kept_depth, self.diameters, self.dense)

    def fuse(self, rgb: np.ndarray, kept_depth: np.ndarray, rebuilt: np.ndarray, sigma: np.ndarray,
             spread: np.ndarray, classical: np.ndarray | None = None, max_range: float | None = None) -> np.ndarray:
        """``rebuilt`` with every pixel that is not a kept measurement (``kept_depth`` <= 0) replaced by its weighing
        with the classical fill of the kept measurements (``classical``: ``self.classical``'s, when the caller
        computed it already); ``max_range``: the sensor's stated range, None if unknown."""
        where = ~(kept_depth > 0) & np.isfinite(rebuilt)
        if not where.any() or not (kept_depth > 0).any():
            return rebuilt
        if classical is None:
            classical = self.classical(rgb, kept_depth)
        where &= np.isfinite(classical) & (classical > 0)
        if not where.any():
            return rebuilt
        w = self.weight(fusion_features(rgb, kept_depth, rebuilt, classical, sigma, spread, where, self.n_features,
                                        max_range))
        out = rebuilt.copy()
        out[where] = w * rebuilt[where] + (1.0 - w) * classical[where]
        return out
