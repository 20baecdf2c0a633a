#!/usr/bin/env python3
"""Should rebuilt pixels be smoothed? Validation frames only (scripts/validate_gap.py).

Before it (twelfth session, scripts/probe_hole_residual.py at commit be88e7b, removed since): carrying the model's misfit at the
kept raw pixels into rebuilt regions (a normalised Gaussian average of it, widths s = off / 2 / 4 / 8 px): gap-block
hold-out MAE 22.74 / 22.79 / 22.88 / 22.87 mm; full validation RMSE world v1 0.4302 / 0.4304 / 0.4304 / 0.4303 m,
world v2 0.4889 / 0.4890 / 0.4891 / 0.4890 m; validation depth-boundary accuracy 4.686 / 4.684 / 4.684 / 4.685 px
(world v1). Nothing gains: the rebuild already meets the kept measurements at a hole's border (its base is a fill
of them). Not adopted; ``carry_residual`` was removed after this run (it is in commit be88e7b's enhancer).
A look at where the learned output has more depth edges than Navier-Stokes (validation frames, world v1, 20
frames; spurious = more than 2 px from a true edge): 49 k spurious edge pixels inside raw holes against 24 k,
8 k in-range for every 1 k past the range, while kept raw pixels far from holes carry 124 k for every method that
keeps raw (sensor noise past 5 % of depth in a 3x3 window). Inside holes the rebuild copies texture: a smooth wall
at 0.43-0.51 m rebuilt with 5-10 % bumps.

So: smooth the rebuilt pixels (``HOLE_SMOOTH_PX``, ``smooth_rebuilt`` in the enhancer; kept pixels untouched, they
only take part as neighbours), in log depth, by a Gaussian or by a bilateral filter that leaves relative steps well
past ``HOLE_SMOOTH_REL`` standing (a hole between a foreground object and the background keeps its edge).

Rule, written before scoring: candidates Gaussian 1.5 px, Gaussian 3 px, bilateral 3 px / 0.05, bilateral 3 px /
0.1 (px at 320 px wide) against off, each scored by validate_gap.score on world v1 and world v2. A candidate
qualifies when its validation depth-boundary accuracy (val_dbe_acc_px) is at least 0.1 px better than off's on each
world, its gap-block hold-out MAE is at most 1 % above off's, its full validation RMSE at most 0.002 m above off's
on each world and its raw-missing validation MAE at most 1 % above off's on each world. Among those, the lowest
mean depth-boundary accuracy over the two worlds is adopted as the default. Only then are the test frames scored
(perfecting-depth eval). The classical methods' validation depth-boundary errors are printed beside them.

Outcome, round 1 (twelfth session, shipped model; outputs/probe_hole_smooth.jsonl), world v1 / world v2:
| candidate | DBE acc px | DBE comp px | gap-block MAE mm | full val RMSE m | raw-missing MAE m | qualifies |
| off | 4.686 / 4.675 | 0.473 / 0.559 | 22.74 | 0.4302 / 0.4889 | 0.3668 / 0.4507 | |
| Gaussian 1.5 | 4.535 / 4.531 | 0.509 / 0.607 | 22.72 | 0.4282 / 0.4868 | 0.3660 / 0.4501 | yes (mean 4.5331) |
| Gaussian 3 | 4.522 / 4.506 | 0.541 / 0.664 | 27.41 | 0.4310 / 0.4898 | 0.3751 / 0.4601 | no (gap, RMSE) |
| bilateral 3 / 0.05 | 4.579 / 4.565 | 0.522 / 0.622 | 21.18 | 0.4301 / 0.4887 | 0.3643 / 0.4478 | yes (4.5723) |
| bilateral 3 / 0.1 | 4.543 / 4.525 | 0.539 / 0.644 | 21.18 | 0.4297 / 0.4883 | 0.3631 / 0.4468 | yes (4.5337) |
Classical, validation DBE acc / comp (world v1): Navier-Stokes 4.431 / 0.726, joint bilateral 4.506 / 0.577,
colorization 4.426 / 0.514, guided fill 4.672 / 0.299. The Gaussian 1.5 px wins by 0.0006 px.

Round 2, rule written after round 1 and before scoring it (``--round 2``): candidates Gaussian 1 px, Gaussian 2 px,
bilateral 1.5 px / 0.1, bilateral 2 px / 0.2, the same conditions against the same off figures; the lowest mean
depth-boundary accuracy among the qualifiers of both rounds is adopted.

Outcome, round 2 (outputs/probe_hole_smooth_r2.jsonl), DBE acc world v1 / v2, gap-block MAE, full val RMSE v1 / v2:
Gaussian 1 px 4.585 / 4.581 px, 22.14 mm, 0.4280 / 0.4865 m (misses the 0.1 px on world v2); Gaussian 2 px 4.513 /
4.504, 23.89 mm (misses the gap condition); bilateral 1.5 / 0.1 4.616 / 4.594 (misses the 0.1 px); bilateral 2 / 0.2
4.562 / 4.542, 21.71 mm, 0.4292 / 0.4879 m (qualifies, mean 4.5523). The Gaussian 1.5 px stays the lowest mean
(4.5331): adopted as the default (``HOLE_SMOOTH_PX = 1.5``). The bilateral 3 px / 0.1 (0.0006 px behind) keeps
edges between rebuilt objects and gains more on the real gap block (-6.9 % against -0.1 %); the rule did not weigh
that, and it was not chosen.

Round 3, rule written after round 2 and before scoring it (``--round 3``): does the bilateral 3 px / 0.1 beat the
adopted Gaussian on real hidden blobs, measured afresh? Both (and off) are scored on blobs never drawn before:
validate_gap.gap_blob_frames with seeds 34000+ (every 5th gap-block frame, 2 draws: 40 frame-draws), MAE in the
hidden pixels pooled (blob_mae_m). The bilateral replaces the Gaussian as the default only if that MAE is at least 3 % below the
Gaussian's; rounds 1-2 already showed it within 0.02 px of the Gaussian's depth-boundary accuracy on each world and
within 0.002 m of its full validation RMSE, the other conditions.

Outcome, round 3 (outputs/probe_hole_smooth_r3.jsonl), pooled hidden-pixel MAE on the fresh blobs: off 19.78 mm,
Gaussian 1.5 px 20.04 mm, bilateral 3 px / 0.1 18.36 mm (-8.4 % against the Gaussian, -7.1 % against off). The
bilateral replaces the Gaussian as the default (``HOLE_SMOOTH_PX = 3.0``, ``HOLE_SMOOTH_REL = 0.1``).

Speed. At 640x480 (most real cameras) the camera-resolution bilateral costs 32 ms on this CPU (2 ms at 320x240).
Filtering at the model's size instead and upsampling the change it makes costs about 3 ms. Rule, written before
that variant was scored: it replaces the camera-resolution filter if its pooled MAE on round 3's blobs is within
2 % of 18.36 mm and its gap-block hold-out MAE within 2 % of 21.18 mm (the 240x320 validation frames are the
model's size, so their figures do not change). Outcome: 18.69 mm and 21.57 mm (+1.8 %, +1.8 %): adopted
(``smooth_rebuilt(..., work_size=)``); the enhancer filters at the model's size.

  PYTHONPATH=scripts python scripts/probe_hole_smooth.py [weights] [--round 2 | --round 3] >> outputs/probe_hole_smooth.jsonl
"""

from __future__ import annotations

import json
import sys

from validate_gap import blob_mae, mean_dbe, score, val_frames

from perfecting_depth_ros import enhancer as E
from perfecting_depth_ros.enhancer import DepthEnhancer
from perfecting_depth_ros.evaluate import metrics as M
from perfecting_depth_ros.evaluate.reference import load_sequence

CANDIDATES = ((0.0, 0.0), (1.5, 0.0), (3.0, 0.0), (3.0, 0.05), (3.0, 0.1))  # (HOLE_SMOOTH_PX, HOLE_SMOOTH_REL)
ROUND2 = ((1.0, 0.0), (2.0, 0.0), (1.5, 0.1), (2.0, 0.2))
ROUND3 = ((0.0, 0.0), (1.5, 0.0), (3.0, 0.1))
CLASSICAL = ("inpaint_ns", "joint_bilateral", "colorization", "guided_fill")


def main(args: list[str]) -> int:
    rnd = args[args.index("--round") + 1] if "--round" in args else "1"
    round2 = rnd == "2"
    args = [a for i, a in enumerate(args) if a != "--round" and (i == 0 or args[i - 1] != "--round")]
    weights = args[0] if args else None
    if rnd == "3":
        enh = DepthEnhancer("learned", weights=weights, backend="onnxruntime")
        for px, rel in ROUND3:
            E.HOLE_SMOOTH_PX, E.HOLE_SMOOTH_REL = px, rel
            print(json.dumps({"round": 3, "hole_smooth_px": px, "hole_smooth_rel": rel,
                              "blob_mae_m": blob_mae(enh, load_sequence()[0], 34_000)}), flush=True)
        return 0
    for method in () if round2 else CLASSICAL:
        enh = DepthEnhancer(method)
        for version in (1, 2):
            dbe = [M.boundary_errors(enh.enhance(f.rgb, raw, max_range_m=r).depth, f.depth)
                   for f, raw, r in val_frames(version)]
            print(json.dumps({"method": method, "world_version": version, **mean_dbe(dbe)}), flush=True)
    seq = load_sequence()[0]
    enh = DepthEnhancer("learned", weights=weights, backend="onnxruntime")
    for px, rel in ROUND2 if round2 else CANDIDATES:
        E.HOLE_SMOOTH_PX, E.HOLE_SMOOTH_REL = px, rel
        for version in (1, 2):
            print(json.dumps({"hole_smooth_px": px, "hole_smooth_rel": rel, "world_version": version,
                              **score(enh, seq, version)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
