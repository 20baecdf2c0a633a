"""Holes below the sensor's minimum range: rebuilt no farther than the classical fill puts them.

A surface nearer than the sensor's minimum range comes back as a hole at the image border, beside the frame's nearest
measurements (the floor in front of a robot, a wall at arm's length). The learned rebuild puts such holes too far
(validation frames, world v1: MAE 0.68 m against joint bilateral's 0.47), at times metres away: free space where an
obstacle is. ``cap_near_holes`` takes, in the rebuilt pixels of holes that touch the image border and whose nearest
kept measurement lies within ``factor`` x the frame's nearest one, the nearer of the learned depth and the joint
bilateral fill closed by Navier-Stokes inpainting (which carries the rim's surfaces on into the hole). It reuses the
hole fusion's bilateral fill, so it runs with the fusion (``hole_fusion: false`` keeps the fast path free of classical
fills). Kept measurements and the published sigma are untouched. Rule and outcome: scripts/probe_near_holes.py.
"""

from __future__ import annotations

import cv2
import numpy as np


def border_holes(hole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(8-connected component labels of ``hole``, per label: the component touches the image border)."""
    n, lab = cv2.connectedComponents(hole.astype(np.uint8), connectivity=8)
    edge = np.zeros_like(hole)
    edge[0, :] = edge[-1, :] = edge[:, 0] = edge[:, -1] = True
    border = np.zeros(n, bool)
    border[np.unique(lab[edge & hole])] = True
    border[0] = False  # label 0: the pixels outside holes
    return lab, border


def nearest_kept_depth(kept: np.ndarray, depth: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """HxW: the depth of each pixel's nearest ``kept`` pixel (Euclidean); with ``where`` (HxW bool), those of its
    pixels alone, in row-major order (as ``array[where]``)."""
    _, nearest_px = cv2.distanceTransformWithLabels(np.where(kept, 0, 255).astype(np.uint8), cv2.DIST_L2, 3,
                                                    labelType=cv2.DIST_LABEL_PIXEL)
    label = nearest_px.ravel()
    k = kept.ravel()
    value = np.zeros(int(label.max()) + 1, np.float32)
    value[label[k]] = depth.ravel()[k]
    if where is None:
        return value[nearest_px]
    return value[label[where.ravel()]]


def near_border_holes(kept: np.ndarray, depth: np.ndarray, factor: float) -> np.ndarray:
    """HxW bool: pixels not ``kept`` in holes (8-connected) that touch the image border, whose nearest kept pixel's
    depth is at most ``factor`` x the nearest kept depth of the frame."""
    hole = ~kept
    if not hole.any() or not kept.any() or factor <= 0:
        return np.zeros(kept.shape, bool)
    lab, border = border_holes(hole)
    if not border.any():
        return np.zeros(kept.shape, bool)
    out = hole & border[lab]
    out[out] = nearest_kept_depth(kept, depth, out) <= factor * float(depth[kept].min())
    return out


def cap_near_holes(final: np.ndarray, kept_depth: np.ndarray, factor: float, classical: np.ndarray) -> np.ndarray:
    """``final`` with the pixels of ``near_border_holes`` no farther than the classical fill closed by Navier-Stokes.

    ``kept_depth`` holds the kept measurements (0 elsewhere) and ``classical`` their joint bilateral fill
    (hole_fusion.classical_fill, which the hole fusion computes anyway)."""
    kept = kept_depth > 0
    where = near_border_holes(kept, kept_depth, factor)
    if not where.any():
        return final
    from .evaluate.baselines import close_holes

    dense = close_holes(classical, within=where)[0]  # inpainted only around these pixels
    where &= np.isfinite(dense) & (dense > 0)
    out = final.copy()
    out[where] = np.minimum(final[where], dense[where])
    return out
