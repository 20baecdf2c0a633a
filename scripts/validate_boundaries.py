#!/usr/bin/env python3
"""Depth-boundary accuracy and completeness (px, metrics.boundary_errors, averaged over frames) of every method on
the synthetic validation frames of scripts/validate_gap.py (45 per world version; never the test split).

Nineteenth session (shipped model, outputs as printed), accuracy / completeness:
  world 1: learned 4.365 / 0.555, joint bilateral 4.506 / 0.577, Navier-Stokes 4.431 / 0.726, Telea 4.456 / 0.685,
           colorization 4.426 / 0.514, guided fill 4.672 / 0.299, ip_basic 4.697 / 0.704
  world 2: learned 4.353 / 0.670, joint bilateral 4.461 / 0.673, Navier-Stokes 4.503 / 0.849, Telea 4.476 / 0.817,
           colorization 4.472 / 0.597, guided fill 4.815 / 0.320, ip_basic 4.651 / 0.744
On these frames the learned enhancer has the best accuracy of all seven; on the 60 test frames four classical fills
are ahead of it (4.91 px vs colorization's 4.40 on world 1).

Twenty-ninth session, --all-sets (the eight sets, 360 frames a world): that lead was the usual set's alone (the set
the hole post-processing was chosen on). Mean accuracy over the sets, world 1 / 2: learned 4.404 / 4.487,
colorization 4.289 / 4.353, Navier-Stokes 4.365 / 4.457, Telea 4.369 / 4.450, joint bilateral 4.405 / 4.553, guided
fill 4.961 / 5.061, ip_basic 4.757 / 4.836; colorization is the best on 4 / 7 of the 8 sets, the learned fill on
2 / 1. (The seventeenth session's note blamed a few test frames with holes below the minimum range; the validation
sets show the gap is general.)

  python scripts/validate_boundaries.py [--all-sets]

--all-sets scores all eight validation sets of validate_gap.py (VAL_SETS: the usual one, --fresh, --third ...
--eighth; 360 frames per world) and prints, per world, each method's mean accuracy over the sets and on how many
sets each method has the best accuracy.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate_gap import VAL_SETS, mean_dbe, val_frames  # noqa: E402  (the same validation frames, the same averaging)

from perfecting_depth_ros.enhancer import DepthEnhancer  # noqa: E402
from perfecting_depth_ros.evaluate import metrics as M  # noqa: E402

METHODS = ("learned", "joint_bilateral", "inpaint_ns", "inpaint_telea", "colorization", "guided_fill", "ip_basic")


def set_means(enh: dict[str, DepthEnhancer], version: int, first: int) -> dict[str, dict]:
    """Each method's mean accuracy / completeness over one validation set."""
    dbe: dict[str, list] = {n: [] for n in enh}
    for f, raw, max_range in val_frames(version, first):
        for n, e in enh.items():
            dbe[n].append(M.boundary_errors(e.enhance(f.rgb, raw, max_range_m=max_range).depth, f.depth))
    return {n: mean_dbe(v) for n, v in dbe.items()}


def main(args: list[str]) -> None:
    enh = {n: DepthEnhancer(n, backend="onnxruntime") if n == "learned" else DepthEnhancer(n) for n in METHODS}
    sets = [s for s in sorted(VAL_SETS) if s < 8] if "--all-sets" in args else [0]  # the ninth, tenth: confirmation sets
    for version in (1, 2):
        acc: dict[str, list[float]] = {n: [] for n in METHODS}
        for s in sets:
            means = set_means(enh, version, VAL_SETS[s][0])
            for n, m in means.items():
                acc[n].append(m["val_dbe_acc_px"])
            print(f"world {version}, set {s}: " + ", ".join(f"{n} {m['val_dbe_acc_px']:.3f} / {m['val_dbe_comp_px']:.3f}"
                                                          for n, m in means.items()), flush=True)
        if len(sets) > 1:
            best = [min(METHODS, key=lambda n, i=i: acc[n][i]) for i in range(len(sets))]
            print(f"world {version}, {len(sets)} sets: mean accuracy " + ", ".join(
                f"{n} {sum(v) / len(v):.3f} (best on {best.count(n)})" for n, v in acc.items()), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
