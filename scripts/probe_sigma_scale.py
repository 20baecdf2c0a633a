#!/usr/bin/env python3
"""Is the published sigma the right size? A monotone rescaling sigma' = a * sigma^g keeps every ranking figure (AUROC,
AUSE) and changes only its size: fitted by Laplace NLL on calibration frames, scored on validation frames.

Calibration: validate_gap.cal_frames (60 synthetic frames, seeds 5000-5059, both worlds) and every 35th 7-Scenes
training frame (0-699) against the fused reference; validation: the 45 usual synthetic frames of each world and every
5th frame of the gap block (700-799) against the fused reference. Pixels: every 4th with a truth.

  PYTHONPATH=scripts python scripts/probe_sigma_scale.py > outputs/probe_sigma_scale.txt

Outcome (seventeenth session): the fit is nearly a plain gain (a = 0.52, g = 1.05; gain alone 0.46). It halves the
sigma of kept measurements (median 83 -> 38 mm on the calibration frames, where their median error is 6-8 mm) and
improves the NLL on both calibration sources (synthetic -1.54 -> -1.76, real -1.59 -> -1.84) and on the real gap
block (-1.77 -> -2.09; +-2 sigma 98.0 -> 94.7 %, kept pixels 99.0 -> 97.4 %), but not on the synthetic validation
frames, whose tails are heavier (world v1 -1.090 -> -1.012, v2 -1.054 -> -0.927; +-2 sigma 95.1 -> 93.3 % and
94.0 -> 92.0 %). The shipped sigma stays as calibrated on synthetic frames; the node's ``sigma_scale`` (and
``DepthEnhancer(sigma_scale=)``) lets a robot team rescale it for its sensor, and ``perfecting-depth check`` suggests
the factor from its own recording (0.51 on ten 7-Scenes Kinect v1 frames' hidden blobs).
"""

from __future__ import annotations

import numpy as np
from validate_gap import REF, cal_frames, val_frames

from perfecting_depth_ros.enhancer import KEEP_GATE, DepthEnhancer
from perfecting_depth_ros.evaluate.reference import GAP, KINECT_V1_RANGE_M, TRAIN, load_sequence, read_frame, read_reference


def pixels(outputs, every: int = 4) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(sigma, error, kept) of every ``every``-th pixel with a truth, over (output, truth, raw) triples."""
    s, e, k = [], [], []
    for out, truth, raw in outputs:
        ok = np.isfinite(out.depth) & np.isfinite(out.uncertainty) & (truth > 0) & (out.uncertainty > 0)
        idx = np.flatnonzero(ok.ravel())[::every]
        s.append(out.uncertainty.ravel()[idx]), e.append((out.depth - truth).ravel()[idx])
        k.append(((out.raw_reliability > KEEP_GATE) & (raw > 0)).ravel()[idx])
    return np.concatenate(s), np.concatenate(e), np.concatenate(k)


def laplace_nll(sigma: np.ndarray, err: np.ndarray) -> float:
    b = sigma / np.sqrt(2)
    return float(np.mean(np.log(2 * b) + np.abs(err) / b))


def describe(sigma: np.ndarray, err: np.ndarray, kept: np.ndarray) -> str:
    return (f"NLL {laplace_nll(sigma, err):+.3f}, +-2 sigma {np.mean(np.abs(err) <= 2 * sigma) * 100:.1f} % (kept "
            f"{np.mean(np.abs(err[kept]) <= 2 * sigma[kept]) * 100:.1f} %), kept median sigma "
            f"{np.median(sigma[kept]) * 1000:.0f} mm, error {np.median(np.abs(err[kept])) * 1000:.1f} mm")


def main() -> int:
    enh, seq = DepthEnhancer(), load_sequence()[0]

    def synthetic(frames):
        for f, raw, max_range in frames:
            yield enh.enhance(f.rgb, raw, max_range_m=max_range), f.depth, raw

    def real(indices):
        for i in indices:
            rgb, raw = read_frame(seq, i)
            ref = read_reference(REF, i)
            if ref is not None:
                yield enh.enhance(rgb, raw, max_range_m=KINECT_V1_RANGE_M), ref, raw

    cal = {"calibration synthetic": pixels(synthetic(cal_frames())), "calibration real": pixels(real(list(TRAIN)[::35]))}
    val = {"validation v1": pixels(synthetic(val_frames(1))), "validation v2": pixels(synthetic(val_frames(2))),
           "gap block": pixels(real(list(GAP)[::5]))}
    grid = [(np.exp(la), g) for g in np.arange(0.8, 2.01, 0.05) for la in np.arange(-2.0, 1.01, 0.05)]
    a, g = min(grid, key=lambda ag: sum(laplace_nll(ag[0] * d[0] ** ag[1], d[1]) for d in cal.values()))
    gain = min(np.exp(np.arange(-2, 1.01, 0.01)), key=lambda c: sum(laplace_nll(c * d[0], d[1]) for d in cal.values()))
    print(f"fit: sigma' = {a:.3f} sigma^{g:.2f}; gain alone {gain:.3f}")
    for name, (s, e, k) in {**cal, **val}.items():
        print(f"{name}: shipped {describe(s, e, k)}")
        print(f"{name}: fitted  {describe(a * s ** g, e, k)}")
        print(f"{name}: gain    {describe(gain * s, e, k)}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
