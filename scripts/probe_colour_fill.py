#!/usr/bin/env python3
"""Probe: would an in-graph, colour-guided hole fill pay for its place in the 100 ms CPU budget?

The error budget (scripts/error_budget.py --classical) shows the joint_bilateral baseline beating the shipped model
in ordinary raw holes (missing, truth within range, not glass): MAE 0.093 vs 0.136 m on the validation frames. The
refiner's classical input is a planar fill that ignores colour. This probe measures a joint bilateral normalised
convolution written in ONNX-exportable torch ops (``model/refiner.colour_fill``): its MAE by hole class on 30 validation
frames (the planar fill given the same fallback for comparison), and its own ONNX Runtime time at 320x240 on this
machine (2 threads). It trains nothing and ships nothing.

  python scripts/probe_colour_fill.py [--json OUT]
"""

from __future__ import annotations

import io
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from error_budget import classes  # noqa: E402
from validate_gap import val_frames  # noqa: E402

from perfecting_depth_ros.model.refiner import colour_fill, planar_fill  # noqa: E402

VARIANTS = {  # grid cell (px), taps per side, dilations of the passes
    "cell2_taps5_r1-2": dict(cell=2, taps=5, radii=(1, 2)),
    "cell2_taps3_r1-2-4": dict(cell=2, taps=3, radii=(1, 2, 4)),
    "cell2_taps3_r1-3": dict(cell=2, taps=3, radii=(1, 3)),
    "cell4_taps3_r1-2": dict(cell=4, taps=3, radii=(1, 2)),
    "cell2_taps3_r2": dict(cell=2, taps=3, radii=(2,)),
}


def ort_ms(kw: dict, repeats: int = 20) -> float:
    import onnxruntime as ort

    class M(torch.nn.Module):
        def forward(self, d, m, rgb, fb):
            return colour_fill(d, m, rgb, fb, **kw)

    d, m, rgb = torch.rand(1, 1, 240, 320), (torch.rand(1, 1, 240, 320) > 0.2).float(), torch.rand(1, 3, 240, 320)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(M(), (d, m, rgb, d), buf, input_names=["d", "m", "rgb", "fb"], opset_version=17, dynamo=False)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    s = ort.InferenceSession(buf.getvalue(), so, providers=["CPUExecutionProvider"])
    feed = {"d": d.numpy(), "m": m.numpy(), "rgb": rgb.numpy(), "fb": d.numpy()}
    for _ in range(3):
        s.run(None, feed)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        s.run(None, feed)
        times.append(time.perf_counter() - t)
    return float(1000 * np.median(times))


def main(args: list[str]) -> int:
    torch.set_num_threads(2)
    acc: dict = {}
    for n, (f, raw, _) in enumerate(val_frames(1)):
        if n >= 30:
            break
        d = torch.from_numpy(raw)[None, None]
        m = (d > 0).float()
        rgb = torch.from_numpy(f.rgb.astype(np.float32) / 255).permute(2, 0, 1)[None]
        cl = classes(raw, f.depth, f.material)
        with torch.no_grad():
            pf = planar_fill(d, m, torch.full_like(d, float(raw[raw > 0].mean())))
            outs = {"planar": pf, **{k: colour_fill(d, m, rgb, pf, **v) for k, v in VARIANTS.items()}}
        for k, x in outs.items():
            x = x[0, 0].numpy()
            for c in ("missing_far", "missing_glass", "missing_other"):
                a = acc.setdefault(k, {}).setdefault(c, [0.0, 0])
                a[0] += float(np.abs(x - f.depth)[cl[c]].sum())
                a[1] += int(cl[c].sum())
    res = {k: {f"mae_{c}_m": v[0] / max(v[1], 1) for c, v in a.items()} for k, a in acc.items()}
    for k, kw in VARIANTS.items():
        res[k]["ort_ms_320x240"] = ort_ms(kw)
    for k, v in res.items():
        print(k, json.dumps(v))
    if "--json" in args:
        Path(args[args.index("--json") + 1]).write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
