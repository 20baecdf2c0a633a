#!/usr/bin/env python3
"""Depth-boundary accuracy and completeness (px, metrics.boundary_errors, averaged over frames) of every method on
the synthetic validation frames of scripts/validate_gap.py (45 per world version; never the test split).

Nineteenth session (shipped model, outputs as printed), accuracy / completeness:
  world 1: learned 4.365 / 0.555, joint bilateral 4.506 / 0.577, Navier-Stokes 4.431 / 0.726, Telea 4.456 / 0.685,
           colorization 4.426 / 0.514, guided fill 4.672 / 0.299, ip_basic 4.697 / 0.704
  world 2: learned 4.353 / 0.670, joint bilateral 4.461 / 0.673, Navier-Stokes 4.503 / 0.849, Telea 4.476 / 0.817,
           colorization 4.472 / 0.597, guided fill 4.815 / 0.320, ip_basic 4.651 / 0.744
On these frames the learned enhancer has the best accuracy of all seven; on the 60 test frames four classical fills
are ahead of it (4.91 px vs colorization's 4.40 on world 1), the gap coming from a few frames with large holes below the
sensor's minimum range, where its fill draws edges that are not there (seventeenth session's note).

  python scripts/validate_boundaries.py
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate_gap import mean_dbe, val_frames  # noqa: E402  (the same 45 validation frames, the same averaging)

from perfecting_depth_ros.enhancer import DepthEnhancer  # noqa: E402
from perfecting_depth_ros.evaluate import metrics as M  # noqa: E402

METHODS = ("learned", "joint_bilateral", "inpaint_ns", "inpaint_telea", "colorization", "guided_fill", "ip_basic")


def main() -> None:
    enh = {n: DepthEnhancer(n, backend="onnxruntime") if n == "learned" else DepthEnhancer(n) for n in METHODS}
    for version in (1, 2):
        dbe: dict[str, list] = {n: [] for n in METHODS}
        for f, raw, max_range in val_frames(version):
            for n, e in enh.items():
                dbe[n].append(M.boundary_errors(e.enhance(f.rgb, raw, max_range_m=max_range).depth, f.depth))
        means = {n: mean_dbe(v) for n, v in dbe.items()}
        print(f"world {version}: " + ", ".join(f"{n} {m['val_dbe_acc_px']:.3f} / {m['val_dbe_comp_px']:.3f}"
                                               for n, m in means.items()))


if __name__ == "__main__":
    main()
