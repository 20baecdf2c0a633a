"""Depth and uncertainty metrics as small pure functions of (pred, target, valid) arrays in metres."""

from __future__ import annotations

import cv2
import numpy as np
from scipy.stats import rankdata

WRONG_THRESHOLD_M = 0.05  # a raw pixel is "wrong" when it is off by more than 5 cm


RAY_CELL_M, RAY_REL = 0.05, 0.01  # an obstacle layer's 5 cm cell plus 1 % of the distance: a ray's tolerance


def ray_tolerance(truth: np.ndarray) -> np.ndarray:
    """How far a published depth may lie from the ``truth`` (m) before an obstacle layer (Nav2's voxel layer, an
    octomap) treats the ray differently: farther, it clears the true surface's cell; nearer, it marks a cell in front
    of it. scripts/obstacle_rays.py and ``perfecting-depth check``."""
    return RAY_CELL_M + RAY_REL * truth


def regions(raw: np.ndarray, gt: np.ndarray) -> dict[str, np.ndarray]:
    """Pixel regions by what the sensor did: missing, wrong (> 5 cm off) and reliable."""
    has_gt = np.isfinite(gt) & (gt > 0)
    valid = (raw > 0) & np.isfinite(raw)
    wrong = valid & (np.abs(raw - gt) > WRONG_THRESHOLD_M)
    return {"all": has_gt, "missing": has_gt & ~valid, "wrong": has_gt & wrong, "reliable": has_gt & valid & ~wrong,
            "artifact": has_gt & (~valid | wrong)}


def depth_errors(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> dict[str, float]:
    """RMSE, MAE, AbsRel and delta<1.05/1.10/1.25 over ``mask``; pixels without a prediction count as
    misses (coverage reports how many were predicted, errors are over predicted pixels)."""
    m = mask & np.isfinite(gt) & (gt > 0)
    n = int(m.sum())
    if n == 0:
        return {"n": 0}
    ok = m & np.isfinite(pred) & (pred > 0)
    p, g = pred[ok], gt[ok]
    out = {"n": n, "coverage": float(ok.sum() / n)}
    if p.size == 0:
        return out
    e = p - g
    ratio = np.maximum(p / g, g / p)
    out.update({
        "rmse": float(np.sqrt(np.mean(e * e))),
        "mae": float(np.mean(np.abs(e))),
        "absrel": float(np.mean(np.abs(e) / g)),
        "d105": float(np.mean(ratio < 1.05)),
        "d110": float(np.mean(ratio < 1.10)),
        "d125": float(np.mean(ratio < 1.25)),
    })
    return out


def depth_edges(depth: np.ndarray, rel: float = 0.05) -> np.ndarray:
    """Depth discontinuities: the 3x3 range exceeds ``rel`` of the depth (NaN never an edge)."""
    d = np.nan_to_num(depth, nan=0.0).astype(np.float32)
    rng = cv2.dilate(d, np.ones((3, 3), np.uint8)) - cv2.erode(d, np.ones((3, 3), np.uint8))
    return (rng > rel * np.maximum(d, 1e-3)) & (d > 0)


def boundary_errors(pred: np.ndarray, gt: np.ndarray, max_dist: float = 10.0) -> dict[str, float]:
    """Depth-boundary accuracy and completeness in pixels (iBims-1 style DBE, truncated at ``max_dist``).

    accuracy: mean distance from predicted edges to the nearest true edge (spurious/blurred edges);
    completeness: mean distance from true edges to the nearest predicted edge (missed edges).
    """
    ep, eg = depth_edges(pred), depth_edges(gt)
    if not eg.any():
        return {}
    dist_to_gt = cv2.distanceTransform((~eg).astype(np.uint8), cv2.DIST_L2, 3)
    dist_to_pred = cv2.distanceTransform((~ep).astype(np.uint8), cv2.DIST_L2, 3) if ep.any() else np.full(gt.shape, max_dist)
    acc = float(np.mean(np.minimum(dist_to_gt[ep], max_dist))) if ep.any() else max_dist
    comp = float(np.mean(np.minimum(dist_to_pred[eg], max_dist)))
    return {"dbe_acc": acc, "dbe_comp": comp}


def auroc(score: np.ndarray, label: np.ndarray) -> float:
    """Area under the ROC curve of ``score`` for ``label`` (Mann-Whitney U); NaN if one class is empty."""
    pos, neg = int(label.sum()), int((~label).sum())
    if pos == 0 or neg == 0:
        return float("nan")
    r = rankdata(score)
    return float((r[label].sum() - pos * (pos + 1) / 2) / (pos * neg))


def _trapezoid(y: np.ndarray, x: np.ndarray) -> float:
    """Area under ``y(x)`` by the trapezoid rule (numpy 1.x has np.trapz, 2.x np.trapezoid; robots have both)."""
    return float(np.sum((y[1:] + y[:-1]) * np.diff(x)) / 2)


def sparsification(err: np.ndarray, unc: np.ndarray, fractions: np.ndarray | None = None) -> dict[str, np.ndarray | float]:
    """Sparsification curves of MAE: remove the most uncertain pixels first, vs the oracle (largest errors
    first). AUSE is the area between them; ``ause_random`` is the same area for a random ordering."""
    fr = np.linspace(0, 0.95, 20) if fractions is None else fractions
    err = np.abs(err)
    n = err.size
    by_unc = err[np.argsort(-unc, kind="stable")]
    by_err = np.sort(err)[::-1]
    cs_u = np.concatenate([[0], np.cumsum(by_unc[::-1])])[::-1]  # sum of the kept tail
    cs_o = np.concatenate([[0], np.cumsum(by_err[::-1])])[::-1]
    keep = np.maximum(1, (n * (1 - fr)).astype(int))
    start = n - keep
    curve_u = cs_u[start] / keep
    curve_o = cs_o[start] / keep
    base = curve_u[0]
    ause = _trapezoid(curve_u - curve_o, fr) / (fr[-1] - fr[0])
    ause_rand = _trapezoid(base - curve_o, fr) / (fr[-1] - fr[0])
    return {"fractions": fr, "curve": curve_u, "oracle": curve_o, "ause": ause, "ause_random": ause_rand}


def laplace_nll(err: np.ndarray, std: np.ndarray) -> float:
    """Mean negative log-likelihood of errors under a Laplace law whose standard deviation is ``std`` (scale
    std / sqrt 2): how the published 1-sigma, which the refiner learns as a Laplace scale, is scored."""
    b = np.asarray(std, np.float64) / np.sqrt(2.0)
    return float(np.mean(np.log(2 * b) + np.abs(err) / b))


def uncertainty_metrics(pred: np.ndarray, sigma: np.ndarray, gt: np.ndarray, raw: np.ndarray) -> dict[str, float]:
    """AUSE, AUROC of flagging raw-wrong pixels, coverage of +-1 and +-2 sigma, Gaussian NLL.

    Arrays may be flattened concatenations of many frames. Pixels without prediction or sigma are skipped.
    """
    ok = np.isfinite(pred) & np.isfinite(sigma) & np.isfinite(gt) & (gt > 0) & (sigma > 0)
    if ok.sum() < 10:
        return {}
    e = (pred - gt)[ok]
    s = sigma[ok]
    sp = sparsification(e, s)
    out = {"ause": sp["ause"], "ause_random": sp["ause_random"],
           "cov1": float(np.mean(np.abs(e) <= s)), "cov2": float(np.mean(np.abs(e) <= 2 * s)),
           "nll": float(np.mean(0.5 * np.log(2 * np.pi * s * s) + e * e / (2 * s * s)))}
    r = raw[ok]
    valid = r > 0
    wrong = valid & (np.abs(r - gt[ok]) > WRONG_THRESHOLD_M)
    out["auroc_raw_wrong"] = auroc(s[valid], wrong[valid])
    return out
