#!/usr/bin/env python3
"""Does the glass/mirror detector of scripts/probe_glass_detector.py (``--label glass_mirror``) make the published
sigma rank wrong raw pixels better when it widens it? Validation sets of scripts/validate_gap.py only.

Why: that detector ranks wrong raw pixels on mirrors at AUROC 0.920 / 0.923 (world v1 / v2 validation frames)
against the shipped sigma's 0.726 / 0.754; mirrors are 17 / 22 % of the wrong raw pixels. Glass it finds no better
than sigma does on world v1 (0.655 against 0.634).

Widening, per valid raw pixel: sigma' = sqrt(sigma^2 + (k p z)^2), p the detector's probability (run at 320 px
wide, the scale it was trained at), z the raw depth. k is chosen on the calibration frames (``cal_frames``: seeds
5000-5059, worlds v1 and v2, never the scored ones) as the one of K_GRID with the best AUROC whose +-2 sigma
coverage there stays at most 97 %.

Rule, written before scoring: worth building the detector into the model (the next step, not shipped here) if on
the usual validation frames the AUROC rises by at least 0.01 on each world with +-2 sigma in 90-97 %, the fresh set
(--fresh) agrees in sign, and the real 7-Scenes gap-block AUROC against the fused reference drops by at most 0.005.

  PYTHONPATH=scripts python scripts/probe_mirror_sigma.py runs/glass_detector_gm/detector_step2000.pt \
      > outputs/probe_mirror_sigma.txt
  PYTHONPATH=scripts python scripts/probe_mirror_sigma.py runs/glass_detector_gm/detector_step2000.pt --powers \
      > outputs/probe_mirror_sigma_powers.txt

Second round (``--powers``, written after the first's outcome and before scoring this one): the first widening
found mirrors (their AUROC 0.726 -> 0.825 on world v1) but its false alarms on right pixels cost the specular and
other classes, and the fresh world-v2 set lost 0.009. Widening by k p^n z instead (n in POWERS: a power above 1
leaves pixels the detector barely suspects nearly alone), (k, n) chosen on the calibration frames as before; the same
rule, and the third set (--third) must agree in sign too, since the fresh set has now been seen.

Outcome (twenty-seventh session; validation AUROC of the published sigma, world v1 / v2; real = 7-Scenes gap block
against the fused reference; the detector widens sigma on those frames too):

| round | chosen on calibration | usual set | fresh set | third set | real |
|---|---|---|---|---|---|
| shipped sigma | – | 0.7745 / 0.7883 | 0.8343 / 0.8462 | 0.8156 / 0.8762 | 0.7644 |
| k p z | k = 0.2 (cal 0.8713 -> 0.8800) | 0.7856 / 0.8009 | 0.8399 / **0.8372** | – | 0.7679 |
| k p^n z | k = 0.2, n = 2 (cal 0.8811) | **0.7836** / 0.7995 | 0.8414 / **0.8446** | **0.8117** / 0.8764 | 0.7610 |

+-2 sigma stayed within 94-97 % everywhere. Neither round qualified: the first lost 0.009 on the fresh world-v2 set,
the second gained less than 0.01 on world v1 and lost on two of the four other scores. By class (usual set, world v1,
first round): mirror 0.726 -> 0.825 and glass 0.634 -> 0.640, but specular 0.744 -> 0.684 and other 0.893 -> 0.883:
the detector's false alarms on right pixels cost as much as its finds gain, set by set.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from probe_glass_detector import Detector, detector_probability  # noqa: E402
from validate_gap import cal_frames, score  # noqa: E402

from perfecting_depth_ros.enhancer import DepthEnhancer  # noqa: E402
from perfecting_depth_ros.evaluate import metrics as M  # noqa: E402
from perfecting_depth_ros.evaluate.reference import load_sequence  # noqa: E402

K_GRID = (0.0, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0)
POWERS = (1, 2, 4)


class Widened:
    """The shipped enhancer with sigma widened by the detector's probability on valid raw pixels."""

    def __init__(self, det: Detector, k: float, power: int = 1):
        self.base, self.det, self.k, self.power = DepthEnhancer("learned", backend="onnxruntime"), det, k, power

    def probability(self, rgb: np.ndarray, raw: np.ndarray) -> np.ndarray:
        return detector_probability(self.det, rgb, raw)

    def enhance(self, rgb, raw, max_range_m=None):
        out = self.base.enhance(rgb, raw, max_range_m=max_range_m)
        valid = raw > 0
        if self.k > 0 and valid.sum() >= 16:
            p = self.probability(rgb, raw)
            widen = np.where(valid, self.k * p ** self.power * raw, 0).astype(np.float32)
            out.uncertainty = np.sqrt(out.uncertainty ** 2 + widen ** 2).astype(np.float32)
        return out


def choose_k(det: Detector, powers: tuple[int, ...] = (1,)) -> tuple[tuple[float, int], list[dict]]:
    frames = list(cal_frames())
    enh = Widened(det, 0.0)
    base, probs = [], []
    for f, raw, max_range in frames:
        base.append(enh.base.enhance(f.rgb, raw, max_range_m=max_range))
        probs.append(enh.probability(f.rgb, raw))
    rows = []
    for k, power in [(k, n) for n in powers for k in K_GRID]:
        S, L, inside, n = [], [], 0, 0
        for (f, raw, _), out, p in zip(frames, base, probs):
            valid = raw > 0
            sig = np.sqrt(out.uncertainty ** 2 + np.where(valid, k * p ** power * raw, 0) ** 2)
            err = np.abs(out.depth - f.depth)
            ok = np.isfinite(err)
            inside += int((err[ok] <= 2 * sig[ok]).sum())
            n += int(ok.sum())
            S.append(sig[valid])
            L.append(np.abs(raw - f.depth)[valid] > 0.05)
        rows.append({"k": k, "power": power, "cal_auroc": M.auroc(np.concatenate(S), np.concatenate(L)),
                     "cal_within_2sigma": inside / n})
    allowed = [r for r in rows if r["cal_within_2sigma"] <= 0.97] or rows[:1]
    best = max(allowed, key=lambda r: r["cal_auroc"])
    return (best["k"], best["power"]), rows


def main(args: list[str]) -> int:
    det = Detector()
    det.load_state_dict(torch.load([a for a in args if not a.startswith("--")][0]))
    det.eval()
    powers = POWERS if "--powers" in args else (1,)
    (k, power), rows = choose_k(det, powers)
    for r in rows:
        print(json.dumps(r), flush=True)
    print(json.dumps({"chosen_k": k, "chosen_power": power}), flush=True)
    seq = load_sequence()[0]
    keys = ("val_auroc", "val_cov2", "val_ause", "gap_ref_auroc", "val_rmse_m")
    for fresh in (0, 1, 2) if "--powers" in args else (0, 1):
        for version in (1, 2):
            for kk in (0.0, k):
                r = score(Widened(det, kk, power), seq, version, fresh=fresh)
                print(json.dumps({"k": kk, "power": power, "world_version": version, "fresh": fresh,
                                  **{key: r[key] for key in keys if key in r}}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
