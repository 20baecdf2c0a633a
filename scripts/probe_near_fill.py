#!/usr/bin/env python3
"""Holes below the sensor's minimum range, after the near cap (near_holes.py): can another fill of those pixels do
better? Validation frames only (scripts/validate_gap.py's sets; no rule was written: none of these was a candidate
to ship).

In the pixels the cap selects (``near_border_holes``), on the shipped enhancer's output:

1. ``planes``: each pixel no farther than a first-order extrapolation from its nearest kept measurement, with the
   inverse-depth plane (exact for a planar surface under a pinhole camera) fitted to the kept pixels in a 13x13
   window there (a floor that keeps approaching the camera toward the image border);
2. ``blend``: the mean of the capped depth and the classical fill (joint bilateral closed by Navier-Stokes);
3. ``lowpass``: the classical fill plus half the capped depth's difference to it low-passed (Gaussian, 8 px): the
   classical fill's smooth surface, moved toward the learned depth where the learned one is nearer.

  PYTHONPATH=scripts python scripts/probe_near_fill.py [--world-version 2] [--set=N] > outputs/probe_near_fill.txt

Outcome (seventeenth session; ``near`` is validate_gap's near-hole MAE, ``dbe`` the depth-boundary accuracy):
``planes`` on set 0, world v1: near-hole MAE -4.0 % but RMSE +1.0 % and artifact MAE +0.7 %: in the selected pixels
that lie at the truth's depth or beyond the frame's nearest measurement (18 k px) the extrapolation comes out too near
by 0.28 m on average (MAE 0.10 -> 0.29 m), in a few frames by metres; where the truth is nearer (25 k px) it helps
(MAE 0.094 -> 0.058 m). Most of what remains of the near-hole error on set 0 is not there at all but on glass panes
(10 k px of holes nearer than every measurement, rebuilt 1.4 m too far: the pane's own depth is nowhere measured).
``blend`` and ``lowpass`` trade between the sets: set 1 (few, shallow near holes) near-hole MAE -23 to -28 % and
boundary accuracy -2 to -6 % on both worlds, set 0 about even (boundary accuracy -0.5 %), but set 3 (walls at arm's
length, truth nearer than both fills) RMSE +1.2 / +0.6 % and near-hole MAE +6 % (world v1 / v2): moving toward the
classical fill moves those pixels farther. None is adopted; the learned fill's texture in large near holes is what
costs boundary accuracy there (set 1 frame 22: 6,300 edge pixels in the hole against the colorization baseline's
460), and the depth those holes need is nearer than what either fill gives.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
from validate_gap import VAL_SETS, eq_arg, val_frames

import perfecting_depth_ros.enhancer as enhancer_module
from perfecting_depth_ros.evaluate import metrics as M
from perfecting_depth_ros.evaluate.baselines import close_holes
from perfecting_depth_ros.near_holes import cap_near_holes, near_border_holes

_seen: dict = {}


def _recording_cap(final, kept_depth, factor, classical):
    """The enhancer's near cap, keeping its inputs for the variants."""
    _seen.update(kept=kept_depth, classical=classical)
    return cap_near_holes(final, kept_depth, factor, classical)


def inverse_depth_planes(kept_depth: np.ndarray, r: int) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel, (c, a, b) of 1/z = c + a du + b dv least-squares fitted to the kept pixels in a (2r+1)^2 window
    centred there (box-filtered moments), and where at least 6 kept pixels made the fit."""
    k = (kept_depth > 0).astype(np.float64)
    inv = np.where(kept_depth > 0, 1.0 / np.maximum(kept_depth, 1e-6), 0.0)
    H, W = k.shape
    v, u = np.mgrid[0:H, 0:W].astype(np.float64)

    def box(x):
        return cv2.boxFilter(x, -1, (2 * r + 1, 2 * r + 1), normalize=False, borderType=cv2.BORDER_CONSTANT)

    S, Su, Sv, Si = box(k), box(k * u), box(k * v), box(inv)
    Suu, Suv, Svv, Sui, Svi = box(k * u * u), box(k * u * v), box(k * v * v), box(inv * u), box(inv * v)
    du, dv = Su - S * u, Sv - S * v
    duu, dvv = Suu - 2 * u * Su + u * u * S, Svv - 2 * v * Sv + v * v * S
    duv = Suv - u * Sv - v * Su + u * v * S
    A = np.stack([np.stack([S, du, dv], -1), np.stack([du, duu, duv], -1), np.stack([dv, duv, dvv], -1)], -2)
    A = A + np.diag([1e-6, 1e-3, 1e-3])  # a little ridge on the slopes
    rhs = np.stack([Si, Sui - u * Si, Svi - v * Si], -1)[..., None]
    ok = S >= 6
    sol = np.zeros((H, W, 3))
    sol[ok] = np.linalg.solve(A[ok], rhs[ok])[..., 0]
    return sol, ok


def planes_fill(kept_depth: np.ndarray, r: int = 6) -> np.ndarray:
    """Depth extrapolated from each pixel's nearest fitted kept pixel along its inverse-depth plane (inf where the
    plane runs past infinity), at least half the frame's nearest measurement."""
    sol, ok = inverse_depth_planes(kept_depth, r)
    src = (kept_depth > 0) & ok
    _, lab = cv2.distanceTransformWithLabels(np.where(src, 0, 255).astype(np.uint8), cv2.DIST_L2, 3,
                                             labelType=cv2.DIST_LABEL_PIXEL)
    ys, xs = np.nonzero(src)
    py, px = np.zeros(lab.max() + 1, np.int64), np.zeros(lab.max() + 1, np.int64)
    py[lab[ys, xs]], px[lab[ys, xs]] = ys, xs
    H, W = kept_depth.shape
    v, u = np.mgrid[0:H, 0:W]
    qy, qx = py[lab], px[lab]
    inv = sol[qy, qx, 0] + sol[qy, qx, 1] * (u - qx) + sol[qy, qx, 2] * (v - qy)
    d = np.where(inv > 1e-3, 1.0 / np.maximum(inv, 1e-3), np.inf)
    return np.maximum(d, 0.5 * kept_depth[kept_depth > 0].min())


def variants(capped: np.ndarray) -> dict[str, np.ndarray]:
    kd = _seen["kept"]
    where = near_border_holes(kd > 0, kd, enhancer_module.NEAR_CAP_FACTOR)
    out = {"shipped": capped}
    if not where.any():
        return {**out, "planes": capped, "blend": capped, "lowpass": capped}
    dense = close_holes(_seen["classical"], within=where)[0]
    w = where & np.isfinite(dense) & (dense > 0)
    p = capped.copy()
    p[where] = np.minimum(capped[where], planes_fill(kd)[where])
    b = capped.copy()
    b[w] = 0.5 * (capped[w] + dense[w])
    diff = np.where(w, capped - dense, 0).astype(np.float32)
    low = cv2.GaussianBlur(diff, (0, 0), 8) / np.maximum(cv2.GaussianBlur(w.astype(np.float32), (0, 0), 8), 1e-6)
    lp = capped.copy()
    lp[w] = dense[w] + 0.5 * low[w]
    return {**out, "planes": p, "blend": b, "lowpass": lp}


def main(args: list[str]) -> int:
    version = 2 if "--world-version" in args and args[args.index("--world-version") + 1] == "2" else 1
    set_n = int(eq_arg(args, "set", "0")[0])
    enhancer_module.cap_near_holes = _recording_cap
    enh = enhancer_module.DepthEnhancer()
    names = ("shipped", "planes", "blend", "lowpass")
    preds, dbe = {k: [] for k in names}, {k: [] for k in names}
    gts, raws, near = [], [], []
    for f, raw, max_range in val_frames(version, VAL_SETS[set_n][0]):
        _seen.clear()
        out = enh.enhance(f.rgb, raw, max_range_m=max_range)
        v = variants(out.depth) if _seen else dict.fromkeys(names, out.depth)
        for k in names:
            preds[k].append(v[k].ravel())
            dbe[k].append(M.boundary_errors(v[k], f.depth))
        gts.append(f.depth.ravel()), raws.append(raw.ravel())
        near.append(((raw <= 0) & (f.depth > 0) & (f.depth < raw[raw > 0].min())).ravel())
    g, r, nr = (np.concatenate(x) for x in (gts, raws, near))
    reg = M.regions(r, g)
    base = None
    for k in names:
        p = np.concatenate(preds[k])
        x = {"rmse": M.depth_errors(p, g, reg["all"])["rmse"], "artifact": M.depth_errors(p, g, reg["artifact"])["mae"],
             "near": float(np.mean(np.abs(p - g)[nr])), "dbe": float(np.mean([b["dbe_acc"] for b in dbe[k] if b]))}
        base = base or x
        print(f"world v{version} set {set_n} {k:8s} " + ", ".join(
            f"{n} {val:.4f} ({(val / base[n] - 1) * 100:+.1f} %)" for n, val in x.items()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
