"""Does a camera mounted rotated (on its side, upside down) cost accuracy? The benchmark's masked hold-out on the
real test frames, with colour and depth rotated by 0, 90, 180 and 270 degrees before the enhancer and the result
rotated back; the same hidden blobs in every orientation (``benchmark.holdout_draws``).

The model learned from upright views only (floors at the bottom of the image); the classical fills do not care
which way is up, so their rows show what rotation does to the frames alone.

    python scripts/probe_rotation.py [--draws 3] [--methods learned,joint_bilateral] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from perfecting_depth_ros.data.real import real_frames
from perfecting_depth_ros.evaluate import metrics as M
from perfecting_depth_ros.evaluate.benchmark import SENSOR_MAX_RANGE_M, _make_enhancer, holdout_draws

TURNS = (0, 1, 2, 3)  # quarter turns counter-clockwise (np.rot90)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--draws", type=int, default=3)
    ap.add_argument("--methods", default="learned,joint_bilateral")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    methods = {m: _make_enhancer(m, None) for m in args.methods.split(",")}
    maes: dict[str, dict[int, list[float]]] = {m: {t: [] for t in TURNS} for m in methods}
    for k, fr in enumerate(real_frames()):  # k: the frame's index, which seeds its blobs as in the benchmark
        if fr.use != "test":
            continue
        for hide in holdout_draws(fr.depth, k, args.draws):
            inp = np.where(hide, 0, fr.depth).astype(np.float32)
            for name, enh in methods.items():
                for t in TURNS:
                    out = enh.enhance(np.ascontiguousarray(np.rot90(fr.rgb, t)), np.ascontiguousarray(np.rot90(inp, t)),
                                      max_range_m=SENSOR_MAX_RANGE_M.get(fr.sensor))
                    maes[name][t].append(M.depth_errors(np.rot90(out.depth, -t), fr.depth, hide)["mae"])
        print(fr.name, {t: round(1e3 * float(np.mean(maes["learned"][t][-args.draws:])), 1) for t in TURNS}
              if "learned" in maes else "", flush=True)
    res = {name: {f"{90 * t}deg_mae_mm": round(1e3 * float(np.mean(v)), 1) for t, v in per.items()}
           for name, per in maes.items()}
    print(json.dumps(res, indent=1))
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"draws": args.draws, **res}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
