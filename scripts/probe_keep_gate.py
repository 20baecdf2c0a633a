#!/usr/bin/env python3
"""Would the model fix more wrong-but-valid raw pixels if it kept fewer? Validation frames only (validate_gap.py).

The learned model barely lowers the error of raw pixels that look valid but are > 5 cm off (synthetic test: MAE 0.696
m against 0.713 for every method that keeps raw), and that is most of the gap to the artifact-MAE target. Two ways to
rebuild more of them, each scored on the usual world-v1 / v2 validation frames (no rule: a diagnosis, nothing here
changes the shipped enhancer unless a later change cites it):

1. keep a raw pixel only where the gate exceeds KEEP_GATE = 0.5 (shipped) / 0.6 / 0.7 / 0.8 / 0.9;
2. two passes: rejected raw pixels (gate <= t) become holes and the frame is enhanced again, so the rebuild no longer
   sees the wrong values it rejected.

  PYTHONPATH=scripts python scripts/probe_keep_gate.py [--world-version 2] > outputs/probe_keep_gate.txt

Outcome (sixteenth session, shipped model, world v1; AUROC of 1 - gate for raw-wrong pixels 0.720, of the published
sigma 0.774): raising the threshold from 0.5 to 0.9 rejects 6 % -> 87 % of the wrong pixels but their MAE only falls
0.647 -> 0.624 m, while the right ones' rises 0.011 -> 0.029 m and RMSE 0.4191 -> 0.4271 m: where the model rebuilds a
wrong pixel it lands about as far off as the raw did (through-glass depth makes the whole pane wrong, and its
surroundings carry no truer value). The two-pass rebuild is worse at every threshold (RMSE 0.4325 at 0.5, 0.97 m at
0.8): with the rejected pixels hidden the normalisation and the context change and holes grow. Neither is adopted;
what the wrong pixels need is a better guess of the surface they hide (glass, mirrors), not a stricter gate.
"""

from __future__ import annotations

import sys

import numpy as np
from validate_gap import val_frames

import perfecting_depth_ros.enhancer as E
from perfecting_depth_ros.evaluate import metrics as M

THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


def main(args: list[str]) -> int:
    version = 2 if "--world-version" in args and args[args.index("--world-version") + 1] == "2" else 1
    enh = E.DepthEnhancer()
    frames = list(val_frames(version))
    one = {t: [] for t in THRESHOLDS}
    two = {t: [] for t in THRESHOLDS}
    gate, sigma = [], []
    for f, raw, max_range in frames:
        first = enh.enhance(f.rgb, raw, max_range_m=max_range)
        gate.append(first.raw_reliability.ravel())
        sigma.append(first.uncertainty.ravel())
        for t in THRESHOLDS:
            E.KEEP_GATE = t
            one[t].append(enh.enhance(f.rgb, raw, max_range_m=max_range).depth.ravel())
            E.KEEP_GATE = 0.5
            hidden = np.where((raw > 0) & (first.raw_reliability <= t), 0, raw).astype(np.float32)
            out = enh.enhance(f.rgb, hidden, max_range_m=max_range) if (hidden > 0).sum() > E.MIN_VALID_PIXELS else first
            two[t].append(out.depth.ravel())
    g = np.concatenate([f.depth.ravel() for f, _, _ in frames])
    r = np.concatenate([raw.ravel() for _, raw, _ in frames])
    gate, sigma = np.concatenate(gate), np.concatenate(sigma)
    reg = M.regions(r, g)
    valid = (r > 0) & (g > 0)
    wrong = valid & (np.abs(r - g) > M.WRONG_THRESHOLD_M)
    print(f"world v{version}: AUROC for raw-wrong pixels, 1 - gate {M.auroc(1 - gate[valid], wrong[valid]):.4f}, "
          f"published sigma {M.auroc(sigma[valid], wrong[valid]):.4f}")
    for name, runs in (("keep gate > t", one), ("two passes, gate <= t hidden", two)):
        for t in THRESHOLDS:
            p = np.concatenate(runs[t])
            print(f"{name:30s} t={t}: RMSE {M.depth_errors(p, g, reg['all'])['rmse']:.4f} m, artifact MAE "
                  f"{M.depth_errors(p, g, reg['artifact'])['mae']:.4f}, wrong {M.depth_errors(p, g, wrong)['mae']:.4f}, "
                  f"right {M.depth_errors(p, g, valid & ~wrong)['mae']:.4f}, rejected wrong "
                  f"{np.mean((gate <= t)[wrong]):.3f}, right {np.mean((gate <= t)[valid & ~wrong]):.3f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
