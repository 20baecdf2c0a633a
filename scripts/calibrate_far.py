#!/usr/bin/env python3
"""Calibrate the out-of-range branch's hard-lift threshold on frames of their own, then write a copy of the
checkpoint with it (``far_threshold``). Calibration frames: 60 synthetic frames (half world v1, half world v2)
from validation-split seeds 5000-5059, never the 45 frames scripts/validate_gap.py scores (seeds 1000-1044) nor
the test split. In raw holes with a known range, a Platt fit p = sigmoid(a * logit + b) of "the truth lies past
the sensor's range" is made, and the lift fires where that calibrated p exceeds 0.5: logit > -b / a. With
``--precision P`` the threshold is instead the lowest one at which the flagged holes are at least P right (a lift
that fires only where it is sure). ``--lift soft`` lifts every hole by the calibrated p (the expected value, what a
squared error wants), ``--lift none`` leaves depth alone; both write the Platt fit (``far_scale``, ``far_threshold``).
``--sigma`` makes sigma carry the two-way guess (``far_sigma``).

  python scripts/calibrate_far.py IN.safetensors OUT.safetensors [--precision 0.95] [--lift hard|soft|none] [--sigma]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate_gap import cal_frames  # noqa: E402  (the calibration frames, shared with calibrate_sigma.py)

from perfecting_depth_ros.enhancer import DepthEnhancer  # noqa: E402
from perfecting_depth_ros.train.common import load_model, save_checkpoint  # noqa: E402


def platt(score: np.ndarray, label: np.ndarray, iters: int = 50) -> tuple[float, float]:
    """Logistic regression of label on score (Newton's method): (a, b) of sigmoid(a * score + b)."""
    X = np.stack([score, np.ones_like(score)], 1).astype(np.float64)
    w = np.zeros(2)
    for _ in range(iters):
        p = 1 / (1 + np.exp(-np.clip(X @ w, -30, 30)))
        g = X.T @ (p - label)
        H = (X * (p * (1 - p))[:, None]).T @ X + 1e-6 * np.eye(2)
        w -= np.linalg.solve(H, g)
    return float(w[0]), float(w[1])


def precision_threshold(score: np.ndarray, label: np.ndarray, precision: float) -> float:
    """The lowest score threshold whose flagged set (score > threshold) is at least ``precision`` right."""
    order = np.argsort(-score)
    hits = np.cumsum(label[order]) / np.arange(1, score.size + 1)
    ok = np.flatnonzero(hits >= precision)
    if ok.size == 0:
        return float(score.max())  # nothing can be flagged that precisely: flag nothing
    return float(score[order][ok[-1]] - 1e-6)


def main(args: list[str]) -> int:
    target = None
    if "--precision" in args:
        k = args.index("--precision")
        target = float(args[k + 1])
        args = args[:k] + args[k + 2:]
    lift = "hard"
    if "--lift" in args:
        k = args.index("--lift")
        lift = args[k + 1]
        args = args[:k] + args[k + 2:]
    if lift not in ("hard", "soft", "none") or (target is not None and lift != "hard"):
        raise SystemExit("--lift is hard, soft or none; --precision goes with a hard lift only")
    far_sigma = "--sigma" in args
    args = [a for a in args if a != "--sigma"]
    src, dst = args
    enh = DepthEnhancer("learned", weights=src, backend="torch")
    refiner = enh.backend.model.refiner
    if not getattr(refiner, "far_branch", False):
        raise SystemExit(f"{src} has no out-of-range branch (far_branch)")
    cap = {}
    refiner.far.register_forward_hook(lambda m, i, o: cap.__setitem__("logit", o.detach()[0, 0].cpu().numpy()))
    scores, labels = [], []
    for f, raw, r in cal_frames():
        enh.enhance(f.rgb, raw, max_range_m=r)  # 240x320 is the model size: logits align with pixels
        hole = raw <= 0
        scores.append(cap["logit"][hole])
        labels.append((f.depth > r)[hole])
    s, y = np.concatenate(scores), np.concatenate(labels).astype(np.float64)
    a, b = platt(s, y)
    thr = -b / a if target is None else precision_threshold(s, y, target)
    flagged = s > thr
    stats = {"rule": "platt p > 0.5" if target is None else f"precision >= {target}",
             "holes": int(s.size), "out_of_range_share": float(y.mean()), "platt_a": a, "platt_b": b,
             "far_threshold": thr, "flagged_share": float(flagged.mean()),
             "precision": float(y[flagged].mean()) if flagged.any() else 0.0,
             "recall": float((flagged & (y > 0)).sum() / max(y.sum(), 1))}
    stats.update({"far_lift": lift, "far_sigma": far_sigma})
    over = {"far_lift": lift, "far_threshold": thr, "far_sigma": far_sigma}
    if lift != "hard":
        over["far_scale"] = a
    model, meta = load_model(src, overrides=over)
    save_checkpoint(dst, model, {**meta, "calibrated_from": src, "calibration": stats})
    print(json.dumps({"weights": dst, **stats}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
