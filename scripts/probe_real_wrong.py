#!/usr/bin/env python3
"""Which real raw pixels count as wrong, and how well the 1-sigma and trivial cues rank them (diagnosis, no choice).

On the 7-Scenes gap block (frames 700-799: neither trained on nor tested; validate_gap.py's gap_ref_auroc reads every
tenth of them for each validation set), the shipped enhancer runs on the raw frames as the sensor gave them, and raw
pixels more than 5 cm off the fused TSDF reference are "wrong", as in ``metrics.uncertainty_metrics``. The wrong
pixels are split by where they lie:
  edge      within 3 px of a depth step of the reference (``metrics.depth_edges``, as the reference's own quality
            report measures its agreement with the raw at edges): the TSDF and the raw
            disagree about where the edge is (registration, fusion blur, flying pixels);
  hole_rim  otherwise within 3 px of a raw hole;
  other_*   the rest (smooth surfaces), by raw range: under 2 m, 2-3 m, 3 m and beyond (Kinect v1's depth step
            grows with the square of the range: about 2.5 cm at 3 m).
For each class: its share of the wrong pixels and the AUROC of the 1-sigma against the right pixels. Then the same
AUROC for trivial cues computed from the raw depth alone (the 5x5 raw depth range, the distance to the nearest raw
hole, |raw - median5(raw)|) and for sigma at other thresholds of "wrong" (3, 10, 20 cm): how much the learned sigma
adds over what any edge detector gives, and how much of the score the threshold's label noise sets; and with "wrong"
tolerant of where the reference puts an edge (a raw pixel within 5 cm of the reference anywhere within 1, 2 or 4 px
counts as right): how much of the score the reference's edge placement sets. Last, the 1-sigma's quartiles on raw
pixels within 2 cm of the reference and on the wrong ones: how unsure it is where it need not be.

  python scripts/probe_real_wrong.py [WEIGHTS] [--fusion auto|off|PATH] [--every N] [--ref DIR] [--json OUT]
      (default the shipped weights and fusion, every 2nd frame, validate_gap's reference; --fusion as DepthEnhancer's
      ``fusion``; --ref another `perfecting-depth reference --out DIR`, e.g. one fused with finer voxels)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from validate_gap import GAP, KINECT_V1_RANGE_M, REF, load_sequence, read_frame, read_reference

from perfecting_depth_ros.enhancer import DepthEnhancer
from perfecting_depth_ros.evaluate.metrics import WRONG_THRESHOLD_M, auroc, depth_edges

BAND_PX = 3
RANGE_BINS_M = (("other_under_2m", 0.0, 2.0), ("other_2_3m", 2.0, 3.0), ("other_3m_on", 3.0, 99.0))
TOLERANCE_PX = (1, 2, 4)


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    k = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * px + 1, 2 * px + 1))
    return cv2.dilate(mask.astype(np.uint8), k) > 0


def local_range(depth: np.ndarray, size: int, valid: np.ndarray) -> np.ndarray:
    """Max minus min of the valid depth in a size x size window (0 where the window holds one value)."""
    k = np.ones((size, size), np.uint8)
    hi = cv2.dilate(np.where(valid, depth, 0).astype(np.float32), k)
    lo = -cv2.dilate(np.where(valid, -depth, -1e4).astype(np.float32), k)
    return np.where(valid, hi - lo, 0)


def tolerant_error(raw: np.ndarray, ref: np.ndarray, px: int) -> np.ndarray:
    """|raw - reference| to the nearest reference value within ``px`` pixels (a (2 px + 1)^2 window; the reference's
    holes and the image's outside take no part): an error the reference's edge placement alone cannot make."""
    h, w = ref.shape
    pad = np.pad(np.where(ref > 0, ref, np.nan).astype(np.float32), px, constant_values=np.nan)
    best = np.full(ref.shape, np.inf, np.float32)
    for dy in range(2 * px + 1):
        for dx in range(2 * px + 1):
            best = np.fmin(best, np.abs(raw - pad[dy:dy + h, dx:dx + w]))
    return best


def frame_features(raw: np.ndarray, ref: np.ndarray) -> dict[str, np.ndarray]:
    """Per-pixel class masks and trivial cues of one frame."""
    valid = raw > 0
    edge = dilate(depth_edges(ref), BAND_PX)
    rim = dilate(~valid, BAND_PX) & ~edge
    hole_dist = cv2.distanceTransform(valid.astype(np.uint8), cv2.DIST_L2, 3)
    med = cv2.medianBlur((raw * 1000).astype(np.uint16), 5).astype(np.float32) / 1000.0
    other = ~edge & ~rim
    bins = {name: other & (raw >= lo) & (raw < hi) for name, lo, hi in RANGE_BINS_M}
    return {"edge": edge, "hole_rim": rim, **bins,
            "cue_raw_range5": local_range(raw, 5, valid), "cue_hole_nearness": -hole_dist,
            "cue_raw_minus_median5": np.abs(raw - med)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("weights", nargs="?", default=None)
    ap.add_argument("--fusion", default="auto")
    ap.add_argument("--every", type=int, default=2)
    ap.add_argument("--ref", default=str(REF))
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    enh = DepthEnhancer("learned", weights=a.weights, backend="onnxruntime", fusion=False if a.fusion == "off" else a.fusion)
    d, _, _ = load_sequence()
    cols: dict[str, list[np.ndarray]] = {}
    frames = list(GAP)[:: a.every]
    for i in frames:
        rgb, raw = read_frame(d, i)
        ref = read_reference(Path(a.ref), i)
        if ref is None:
            raise SystemExit(f"no reference for frame {i}: run `perfecting-depth reference --out {a.ref}` first")
        out = enh.enhance(rgb, raw, max_range_m=KINECT_V1_RANGE_M)
        keep = (raw > 0) & (ref > 0) & np.isfinite(out.uncertainty)
        feats = frame_features(raw, ref)
        row = {"sigma": out.uncertainty, "err": np.abs(raw - ref), **feats,
               **{f"err_tol{px}": tolerant_error(raw, ref, px) for px in TOLERANCE_PX},
               "cue_head_unreliability": 1 - out.raw_reliability, "cue_sample_spread": out.spread}
        for k, v in row.items():
            cols.setdefault(k, []).append(v[keep])
    c = {k: np.concatenate(v) for k, v in cols.items()}
    wrong = c["err"] > WRONG_THRESHOLD_M
    right = ~wrong
    res: dict = {"reference": a.ref, "frames": len(frames), "pixels": int(wrong.size), "wrong_share": float(wrong.mean()),
                 "auroc_sigma": auroc(c["sigma"], wrong), "classes": {}}
    for name in ("edge", "hole_rim", *(b[0] for b in RANGE_BINS_M)):
        m = c[name]
        if not m.any():
            continue
        sel = right | (wrong & m)
        res["classes"][name] = {"share_of_wrong": float((wrong & m).sum() / max(wrong.sum(), 1)),
                                "share_of_pixels": float(m.mean()), "wrong_rate": float(wrong[m].mean()),
                                "auroc_sigma": auroc(c["sigma"][sel], wrong[sel])}
        res["classes"][name]["right_sigma_median_mm"] = float(np.median(c["sigma"][right & m]) * 1000)
    # the 1-sigma of raw pixels within 2 cm of the reference (kept as measured): how unsure it is where it need not be
    good = c["err"] < 0.02
    res["good_px_sigma_mm_p25_50_75"] = [float(x * 1000) for x in np.percentile(c["sigma"][good], [25, 50, 75])]
    res["good_px_sigma_over_5cm_share"] = float(np.mean(c["sigma"][good] > 0.05))
    res["wrong_px_sigma_mm_p25_50_75"] = [float(x * 1000) for x in np.percentile(c["sigma"][wrong], [25, 50, 75])]
    res["cues"] = {k: auroc(c[k], wrong) for k in c if k.startswith("cue_")}
    res["auroc_sigma_by_threshold_m"] = {str(t): auroc(c["sigma"], c["err"] > t) for t in (0.03, 0.05, 0.10, 0.20)}
    # wrong only where no reference value within px pixels is within 5 cm of the raw: the reference's edge placement
    res["auroc_sigma_tolerant_px"] = {str(px): {"wrong_share": float(np.mean(c[f"err_tol{px}"] > WRONG_THRESHOLD_M)),
                                               "auroc_sigma": auroc(c["sigma"], c[f"err_tol{px}"] > WRONG_THRESHOLD_M)}
                                      for px in TOLERANCE_PX}
    # without the edge band, where the reference itself is least sure (quality.json: median |raw - ref| at its edges)
    ne = ~c["edge"]
    res["auroc_sigma_off_edges"] = auroc(c["sigma"][ne], wrong[ne])
    text = json.dumps(res, indent=1)
    print(text)
    if a.json:
        Path(a.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
