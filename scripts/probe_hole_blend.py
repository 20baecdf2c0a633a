#!/usr/bin/env python3
"""Does blending the learned model's rebuilt holes with a classical fill help? Validation frames only.

The tenth session found, on the 7-Scenes gap block, that Navier-Stokes beats the learned model next to a hole's
border and joint bilateral deep inside it, and that the plain mean of learned and Navier-Stokes beat both. This probe
measures that on more validation data before anything is changed:

- the 7-Scenes gap block (frames 700-799, every 5th: 20 frames, 2 blob draws each, seeds 32000+; never trained on,
  never the test block), scored in the hidden blobs;
- the synthetic validation frames of both worlds (validate_gap.val_frames), scored in raw-missing pixels whose truth
  lies within the sensor's range.

Candidates: hole depth = w * learned + (1 - w) * F, F in {inpaint_ns, joint_bilateral}, w in {1, 0.75, 0.5, 0.25}.
Rule, written before scoring: the candidate with the lowest gap-block hole MAE is adopted only if it improves on the
learned model alone (w = 1) by >= 3 % there AND does not make the in-range raw-hole MAE of either synthetic world
worse by more than 1 %. Only then are the test frames scored (perfecting-depth eval).

  PYTHONPATH=scripts python scripts/probe_hole_blend.py [--out outputs/probe_hole_blend.json]

Outcome (eleventh session, shipped model; outputs/probe_hole_blend_session11.json), hole MAE in mm:
- gap block: learned 19.9, Navier-Stokes 19.8, joint bilateral 21.4; best blend Navier-Stokes w = 0.5: 18.9 (-5.1 %);
- synthetic world v1 (in-range raw holes): learned 232, that blend 253 (+9 %); Navier-Stokes 299, joint bilateral 280;
- synthetic world v2: learned 288, that blend 259; joint bilateral alone 196, Navier-Stokes 242.
The blend fails the world-v1 condition: not adopted, the test frames not scored with it. Per distance band only the
pixels within 3 px of a measurement gain from Navier-Stokes on all three sets (gap 9.9 -> 9.1, v1 131 -> 126, v2
146 -> 141 at w = 0.5). World v2's raw holes are filled far better by the classical methods than by the learned model.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from validate_gap import FAR_M, gap_blob_frames, report_section, val_frames

from perfecting_depth_ros.enhancer import DepthEnhancer
from perfecting_depth_ros.evaluate.reference import KINECT_V1_RANGE_M, load_sequence

FILLS = ("inpaint_ns", "joint_bilateral")
WEIGHTS = (1.0, 0.75, 0.5, 0.25)
BANDS = (0, 3, 8, 16, 10_000)  # distance to the nearest valid pixel (px), for the per-band report


def _columns(enh, fills, rgb, inp, truth, score, max_range):
    """Per scored pixel: truth, learned, each fill, distance to the nearest valid input pixel."""
    import cv2

    out = enh.enhance(rgb, inp, max_range_m=max_range)
    cols = {"truth": truth[score], "learned": out.depth[score]}
    for name, f in fills.items():
        t = time.perf_counter()
        cols[name] = f.enhance(rgb, inp).depth[score]
        cols.setdefault("_ms_" + name, []).append((time.perf_counter() - t) * 1e3)
    dist = cv2.distanceTransform((inp <= 0).astype(np.uint8), cv2.DIST_L2, 3)
    cols["dist"] = dist[score]
    return cols


def _merge(rows):
    keys = [k for k in rows[0] if not k.startswith("_ms_")]
    merged = {k: np.concatenate([r[k] for r in rows]) for k in keys}
    for k in [k for k in rows[0] if k.startswith("_ms_")]:
        merged[k] = float(np.median([v for r in rows for v in r[k]]))
    return merged


def _table(c):
    """MAE (mm) of every candidate, overall and per distance band."""
    ok = np.isfinite(c["learned"]) & np.isfinite(c["truth"])
    res = {}
    for f in FILLS:
        ok_f = ok & np.isfinite(c[f])
        for w in WEIGHTS:
            b = w * c["learned"] + (1 - w) * c[f]
            err = np.abs(b - c["truth"])
            row = {"all": float(np.mean(err[ok_f]) * 1e3)}
            for lo, hi in zip(BANDS[:-1], BANDS[1:]):
                m = ok_f & (c["dist"] >= lo) & (c["dist"] < hi)
                row[f"{lo}-{hi}px"] = float(np.mean(err[m]) * 1e3) if m.any() else None
            res[f"{f} w={w}"] = row
        res[f"{f} alone"] = {"all": float(np.mean(np.abs(c[f] - c["truth"])[ok_f]) * 1e3)}
    return res


def main(args: list[str]) -> int:
    out_path = args[args.index("--out") + 1] if "--out" in args else None
    enh = DepthEnhancer("learned", backend="onnxruntime")
    fills = {f: DepthEnhancer(f) for f in FILLS}
    rows = [_columns(enh, fills, rgb, np.where(hide, 0, raw).astype(np.float32), raw, hide, KINECT_V1_RANGE_M)
            for rgb, raw, hide in gap_blob_frames(load_sequence()[0])]
    report: dict = {"fill_ms_640x480": {f: _merge(rows)["_ms_" + f] for f in FILLS}}
    report_section(report, "gap", _table(_merge(rows)), out_path)
    for version in (1, 2):
        rows = []
        for f, raw, max_range in val_frames(version):
            score = (raw <= 0) & (f.depth > 0) & (f.depth <= min(max_range, FAR_M))
            rows.append(_columns(enh, fills, f.rgb, raw, f.depth, score, max_range))
        report_section(report, f"synthetic_v{version}", _table(_merge(rows)), out_path)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
