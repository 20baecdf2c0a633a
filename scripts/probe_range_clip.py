#!/usr/bin/env python3
"""Can rebuilt holes stay within the nearby measurements without capping holes past the sensor's range?
Validation frames only (scripts/validate_gap.py).

scripts/probe_local_window.py found that clipping rebuilt holes to the nearest and farthest measurement in a window
of 1/40 of the image side cuts the gap-block hold-out MAE by 4.9 % and real raw-hole error against the fused
reference, but raises full validation RMSE by 0.015 m: the cost sits in holes whose truth lies past the sensor's
range (in-range RMSE moved 0.0015 m), where the nearby measurements are a foreground edge or the far end of what
the sensor reached. The model is told the sensor's range and rebuilds such holes far; ``LOCAL_FAR_REACH = a`` lifts
the upper bound where the rebuild lies past a times the sensor's reach (its stated range, at least the frame's
farthest measurement; the frame's farthest measurement when the range is unknown), and keeps it elsewhere.

Rule, written before scoring: window 1/40 with a in {0.8, 0.9, 1.0, no lift} against the clip off, each scored by
validate_gap.score on world v1 and world v2. The candidate with the lowest gap-block hold-out MAE is adopted as the
default only if that MAE is at least 2 % below off's, its full validation RMSE (out-of-range holes included) is at
most 0.002 m above off's on each world, and its raw-missing validation MAE is at most 1 % above off's on each world
(the conditions of probe_local_window.py). Only then are the test frames scored (perfecting-depth eval).

Outcome A (twelfth session, shipped model, at commit 49acb12: before the hole smoothing), full validation RMSE
world v1 / v2 (m), off 0.4302 / 0.4889:
no lift 0.4453 / 0.5056, a = 1.0 0.4429 / 0.5029, 0.9 0.4411 / 0.5007, 0.8 0.4387 / 0.4980; in-range RMSE within
0.0015 m of off for all; gap-block MAE 21.63 mm for all (off 22.74). The shipped model does not read the range
(README, "Sensor range"), so it seldom rebuilds such holes past the reach and the lift recovers only part of the
cost: no candidate meets the +0.002 m condition, the default stays off.

Rule B, written after outcome A and before scoring it (``--edge``; run at commit 49acb12, whose enhancer had the
``LOCAL_FAR_EDGE`` constant this needs, removed since): also lift the upper bound where the farthest
measurement in the window lies past b times the reach (a hole next to the far end of what the sensor reached may go
on past it), a = 0.8, b in {0.8, 0.7, 0.6}; the same conditions against the same off figures.

Outcome B: b = 0.8 / 0.7 / 0.6 full validation RMSE world v1 0.4387 / 0.4387 / 0.4385, world v2 0.4980 / 0.4980 /
0.4978 m, gap-block MAE 21.63 mm for all: the costly out-of-range holes do not border the far end of the reach (a
foreground object's edge in front of them, more likely); no candidate qualifies.

  PYTHONPATH=scripts python scripts/probe_range_clip.py [weights] >> outputs/probe_range_clip.jsonl
"""

from __future__ import annotations

import json
import math
import sys

from validate_gap import score

from perfecting_depth_ros import enhancer as E
from perfecting_depth_ros.enhancer import DepthEnhancer
from perfecting_depth_ros.evaluate.reference import load_sequence

WINDOW = 1 / 40
CANDIDATES = ((0.0, math.inf), (WINDOW, math.inf), (WINDOW, 1.0), (WINDOW, 0.9), (WINDOW, 0.8))


def main(args: list[str]) -> int:
    weights = args[0] if args else None
    seq = load_sequence()[0]
    for window, reach in CANDIDATES:
        E.LOCAL_FAR_REACH = reach
        enh = DepthEnhancer("learned", weights=weights, backend="onnxruntime", local_window=window)
        for version in (1, 2):
            row = {"local_window": window, "far_reach": None if math.isinf(reach) else reach, "world_version": version}
            print(json.dumps({**row, **score(enh, seq, version)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
