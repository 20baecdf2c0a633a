"""Probe: test-time flip augmentation. Each frame is enhanced as given and mirrored left-right; the two results are
averaged (kept raw pixels stay exact where both keep them) and their disagreement joins the 1-sigma:
sigma = sqrt((sigma_a^2 + sigma_b^2) / 2 + ((d_a - d_b) / 2)^2). It doubles the graph's cost.

Rule, written before scoring (validation data only, scripts/validate_gap.py's usual set, world v1 and v2): worth
offering as an option if, on both worlds, validation RMSE and artifact MAE fall by at least 1 %, the AUROC of sigma
for raw-wrong pixels rises by at least 0.005, and the gap-block hold-out MAE does not rise by more than 1 %.

    python scripts/probe_flip_tta.py [--out=outputs/probe_flip_tta.json]

Outcome (eighteenth session, shipped model with its fusion): not met. World v1: RMSE 0.4162 -> 0.4191 m, artifact MAE
0.4548 -> 0.4563 m, AUROC 0.7745 -> 0.7746; world v2: RMSE 0.4818 -> 0.4820 m, artifact MAE 0.5431 -> 0.5435 m, AUROC
0.7883 -> 0.7881; the gap-block hold-out 18.9 -> 18.6 mm, boundary accuracy 4.36 -> 4.35 px. The two passes mostly
agree, so averaging them adds little and their disagreement does not find the wrong raw pixels.
"""

from __future__ import annotations

import sys

import numpy as np
from validate_gap import report_section, score

from perfecting_depth_ros.enhancer import SOURCE_MEASURED, DepthEnhancer, EnhancedDepth
from perfecting_depth_ros.evaluate.reference import load_sequence

KEYS = ("gap_holdout_mae_m", "val_rmse_m", "val_mae_artifact_m", "val_auroc", "val_cov2", "val_ause",
        "val_nll_laplace", "val_dbe_acc_px", "gap_ref_mae_missing_m", "gap_ref_auroc")


class FlipTTA:
    """An enhancer that averages the frame and its mirror image (see the module docstring)."""

    def __init__(self, enh: DepthEnhancer):
        self.enh = enh

    def enhance(self, rgb: np.ndarray, depth: np.ndarray, max_range_m: float | None = None) -> EnhancedDepth:
        a = self.enh.enhance(rgb, depth, max_range_m=max_range_m)
        b = self.enh.enhance(np.ascontiguousarray(rgb[:, ::-1]), np.ascontiguousarray(depth[:, ::-1]),
                             max_range_m=max_range_m)
        db, sb, srcb = b.depth[:, ::-1], b.uncertainty[:, ::-1], b.source[:, ::-1]
        kept = (a.source == SOURCE_MEASURED) & (srcb == SOURCE_MEASURED)
        d = np.where(kept, depth, 0.5 * (a.depth + db)).astype(np.float32)
        s = np.sqrt(0.5 * (a.uncertainty**2 + sb**2) + (0.5 * (a.depth - db)) ** 2).astype(np.float32)
        return EnhancedDepth(d, s, a.method + " +flip", a.backend)


def main(args: list[str]) -> int:
    out = next((a.split("=", 1)[1] for a in args if a.startswith("--out=")), "outputs/probe_flip_tta.json")
    seq = load_sequence()[0]
    report: dict = {}
    for version in (1, 2):
        for name, enh in (("single", DepthEnhancer(backend="onnxruntime")),
                          ("flip_tta", FlipTTA(DepthEnhancer(backend="onnxruntime")))):
            r = score(enh, seq, version)
            report_section(report, f"v{version}_{name}", {k: r.get(k) for k in KEYS}, out)
    ok = True
    for v in (1, 2):
        a, b = report[f"v{v}_single"], report[f"v{v}_flip_tta"]
        ok &= b["val_rmse_m"] <= 0.99 * a["val_rmse_m"] and b["val_mae_artifact_m"] <= 0.99 * a["val_mae_artifact_m"]
        ok &= b["val_auroc"] >= a["val_auroc"] + 0.005 and b["gap_holdout_mae_m"] <= 1.01 * a["gap_holdout_mae_m"]
    report_section(report, "rule_met", {"met": bool(ok)}, out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
