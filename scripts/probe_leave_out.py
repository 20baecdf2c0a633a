#!/usr/bin/env python3
"""Does a raw pixel agree with what the model rebuilds there when that pixel and its neighbours are hidden? A
leave-out cue for raw depth that looks valid but is wrong (glass, mirrors), the uncertainty's largest miss.

FACTS.md: the sample spread does not flag wrong-but-valid raw pixels, because the model is conditioned on them; the
refiner's hold-out training rebuilds hidden raw from its surroundings. Here each frame's image is cut into ``M``
disjoint blob-shaped regions (smooth noise split at its quantiles, blob scale ``--scales`` in pixels); each region's
raw is hidden in turn and the enhancer rebuilds it from the rest. Per valid raw pixel, with ``d`` the rebuilt depth
and ``s`` its published 1-sigma there:

  residual    |raw - d|            (metres)
  z           |raw - d| / s
  combined    sqrt(sigma^2 + (|raw - d| / k)^2), sigma the published 1-sigma of the full frame (the form
              ``keep_measurements`` already publishes, its k = 1), k = 1, 2, 4

and the AUROC of each for flagging raw pixels more than 5 cm off, against the published sigma alone: on the usual
synthetic validation frames (worlds v1 and v2; all wrong pixels, and glass and mirrors alone) and on the 7-Scenes gap
frames against the fused reference (every 10th frame, as validate_gap.py scores ``gap_ref_auroc``). It costs ``M``
more runs of the enhancer per scale per frame, so it is a probe, not a run-time path, unless it earns one.

  PYTHONPATH=scripts python scripts/probe_leave_out.py [--regions 4] [--scales 6,16] [--fresh] > outputs/probe_leave_out.txt

Outcome (forty-third session, the shipped model, the usual validation set, 4 regions; AUROC world v1 / v2 / real):
the published sigma 0.7745 / 0.7883 / 0.7644. The leave-out residual alone ranks wrong raw pixels on glass below it at
every blob scale (glass 0.55 / 0.58 / 0.56 on world v1 at 6 / 16 / 40 px, sigma 0.63; mirrors 0.57-0.63, sigma 0.73):
what lies behind a pane is seen through the rest of the pane too, so the raw around a hidden patch tells the model
the same wrong depth. It ranks other wrong pixels (edges, flying pixels) better at 6 px (0.917 / 0.924 against 0.879
/ 0.899), but combined with sigma the best gain is +0.006 / +0.003 / +0.004 (16 px, k = 1: 0.7807 / 0.7905 / 0.7682),
and larger blobs lose (40 px, k = 1: 0.740 / 0.747 / 0.740), for four more runs of the enhancer a frame: nothing to
adopt. FACTS.md's point again: the model is conditioned on the raw it is asked to judge, and hiding it does not
help where its neighbours are wrong the same way.
"""

from __future__ import annotations

import sys

import cv2
import numpy as np
from error_budget import VALID_CLASSES, classes
from validate_gap import GAP, KINECT_V1_RANGE_M, REF, VAL_SETS, load_sequence, read_frame, read_reference, take_int, val_frames

from perfecting_depth_ros.enhancer import DepthEnhancer
from perfecting_depth_ros.evaluate import metrics as M


def regions(shape: tuple[int, int], m: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """Label image in 0..m-1: smooth noise at ``scale`` px split at its quantiles, so each label is about 1/m of the
    image in blobs of that size."""
    noise = cv2.GaussianBlur(rng.standard_normal(shape).astype(np.float32), (0, 0), scale)
    edges = np.quantile(noise, np.linspace(0, 1, m + 1)[1:-1])
    return np.digitize(noise, edges)


def leave_out(enh: DepthEnhancer, rgb: np.ndarray, raw: np.ndarray, max_range: float | None, m: int, scale: float,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Rebuilt depth and its 1-sigma at every pixel, each from a run with that pixel's region of raw hidden."""
    lab = regions(raw.shape, m, scale, rng)
    d = np.full(raw.shape, np.nan, np.float32)
    s = np.full(raw.shape, np.nan, np.float32)
    for k in range(m):
        hide = lab == k
        if (raw[~hide] > 0).sum() < 64:  # the enhancer refuses a frame with too few measurements left
            continue
        out = enh.enhance(rgb, np.where(hide, 0, raw).astype(np.float32), max_range_m=max_range)
        d[hide], s[hide] = out.depth[hide], out.uncertainty[hide]
    return d, s


def cues(sigma: np.ndarray, raw: np.ndarray, d: np.ndarray, s: np.ndarray) -> dict[str, np.ndarray]:
    """The scores compared (higher = more likely wrong); NaN where a run was refused is ranked as the sigma alone."""
    res = np.nan_to_num(np.abs(raw - d), nan=0.0)
    out = {"sigma": sigma, "residual": res, "z": res / np.maximum(np.nan_to_num(s, nan=1.0), 1e-3)}
    for k in (1, 2, 4):
        out[f"combined_k{k}"] = np.sqrt(sigma ** 2 + (res / k) ** 2)
    return out


def auroc_table(scores: dict[str, list[np.ndarray]], wrong: np.ndarray, groups: dict[str, np.ndarray]) -> str:
    """One line per cue: AUROC over all wrong pixels against the right ones, and per group of wrong pixels."""
    lines = []
    for name, parts in scores.items():
        v = np.concatenate(parts)
        right = ~wrong
        cells = [f"all {M.auroc(v, wrong):.4f}"]
        for g, mask in groups.items():
            sel = right | mask
            if mask.any():
                cells.append(f"{g} {M.auroc(v[sel], mask[sel]):.4f}")
        lines.append(f"  {name:12s} " + ", ".join(cells))
    return "\n".join(lines)


def synthetic(enh: DepthEnhancer, version: int, first: int, m: int, scale: float) -> str:
    scores: dict[str, list[np.ndarray]] = {}
    wrong, glass, mirror = [], [], []
    for i, (f, raw, max_range) in enumerate(val_frames(version, first)):
        valid = raw > 0
        full = enh.enhance(f.rgb, raw, max_range_m=max_range)
        d, s = leave_out(enh, f.rgb, raw, max_range, m, scale, np.random.default_rng(90_000 + i))
        for k, v in cues(full.uncertainty, raw, d, s).items():
            scores.setdefault(k, []).append(v[valid])
        c = classes(raw, f.depth, f.material)
        w = np.logical_or.reduce([c[k] for k in VALID_CLASSES[1:]])  # every wrong class
        wrong.append(w[valid]), glass.append(c["wrong_glass"][valid]), mirror.append(c["wrong_mirror"][valid])
    w, g, mi = (np.concatenate(x) for x in (wrong, glass, mirror))
    return auroc_table(scores, w, {"glass": g, "mirror": mi, "other": w & ~g & ~mi})


def real(enh: DepthEnhancer, seq, first_gap: int, m: int, scale: float) -> str:
    scores: dict[str, list[np.ndarray]] = {}
    wrong = []
    for k, i in enumerate(list(GAP)[first_gap::10]):
        rgb, raw = read_frame(seq, i)
        ref = read_reference(REF, i)
        if ref is None:
            continue
        full = enh.enhance(rgb, raw, max_range_m=KINECT_V1_RANGE_M)
        d, s = leave_out(enh, rgb, raw, KINECT_V1_RANGE_M, m, scale, np.random.default_rng(95_000 + k))
        keep = (raw > 0) & (ref > 0)
        for name, v in cues(full.uncertainty, raw, d, s).items():
            scores.setdefault(name, []).append(v[keep])
        wrong.append((np.abs(raw - ref) > 0.05)[keep])
    if not wrong:
        return "  no fused reference (perfecting-depth reference --out data_cache/7scenes_ref)"
    return auroc_table(scores, np.concatenate(wrong), {})


def main(args: list[str]) -> int:
    m, args = take_int(args, "--regions", 4)
    scales = [6.0, 16.0]
    if "--scales" in args:
        scales = [float(x) for x in args[args.index("--scales") + 1].split(",")]
    first_val, first_gap, _ = VAL_SETS[1 if "--fresh" in args else 0]
    enh = DepthEnhancer("learned", backend="onnxruntime")
    seq = load_sequence()[0]
    for scale in scales:
        print(f"regions {m}, blob scale {scale:g} px")
        for version in (1, 2):
            print(f" world v{version}, synthetic validation frames (seeds {first_val}+), raw wrong by > 5 cm:")
            print(synthetic(enh, version, first_val, m, scale), flush=True)
        print(" 7-Scenes gap frames against the fused reference:")
        print(real(enh, seq, first_gap, m, scale), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
