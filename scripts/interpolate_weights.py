#!/usr/bin/env python3
"""Interpolate two checkpoints of one architecture tensor by tensor (WiSE-FT, Wortsman et al. 2022: a fine-tune
averaged with the weights it started from often keeps the fine-tune's gain and what the start did better).

  python scripts/interpolate_weights.py OUT.safetensors FINETUNED.safetensors START.safetensors --alpha=A

OUT = A x FINETUNED + (1 - A) x START for every floating-point tensor; any other tensor must be identical in both.
The metadata (model config) is FINETUNED's, with the two sources and A recorded; OUT's checksum goes into the
manifest.json beside it. Twenty-sixth session: the averages
of the stage2_l2 fine-tunes with the shipped weights (rule and outcome in config/train/stage2_l2.yaml).
"""

from __future__ import annotations

import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from perfecting_depth_ros.backends.base import write_manifest


def interpolate(a: dict[str, np.ndarray], b: dict[str, np.ndarray], alpha: float) -> dict[str, np.ndarray]:
    """``alpha`` x ``a`` + (1 - ``alpha``) x ``b`` for the floating-point tensors; the others must be equal."""
    if set(a) != set(b):
        raise ValueError("the checkpoints hold different tensors")
    out = {}
    for k, v in a.items():
        if v.shape != b[k].shape:
            raise ValueError(f"{k}: shapes differ ({v.shape} vs {b[k].shape})")
        if np.issubdtype(v.dtype, np.floating):
            out[k] = (alpha * v.astype(np.float64) + (1 - alpha) * b[k].astype(np.float64)).astype(v.dtype)
        elif np.array_equal(v, b[k]):
            out[k] = v
        else:
            raise ValueError(f"{k} ({v.dtype}) differs between the checkpoints and cannot be interpolated")
    return out


def main(args: list[str]) -> int:
    alphas = [a for a in args if a.startswith("--alpha=")]
    paths = [a for a in args if not a.startswith("--")]
    if len(paths) != 3 or len(alphas) != 1:
        raise SystemExit("usage: interpolate_weights.py OUT FINETUNED START --alpha=A")
    alpha = float(alphas[0].split("=", 1)[1])
    if not 0.0 <= alpha <= 1.0:
        raise SystemExit(f"--alpha must lie in [0, 1], got {alpha}")
    out, tuned, start = paths
    merged = interpolate(load_file(tuned), load_file(start), alpha)
    with safe_open(tuned, "np") as f:
        meta = dict(f.metadata() or {})
    m = json.loads(meta.get("meta", "{}"))
    meta["meta"] = json.dumps({**m, "interpolated": {"finetuned": tuned, "start": start, "alpha": alpha}})
    save_file(merged, out, metadata=meta)
    write_manifest(out)  # the enhancer loads only weights whose checksum its directory's manifest.json records
    print(f"wrote {out}: {alpha} x {tuned} + {1 - alpha} x {start}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
