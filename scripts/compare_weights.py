"""Compare two weights files tensor by tensor, grouped by the model's parts (encoder, denoiser, refiner, error head):
how many tensors are bit for bit the same, the largest absolute difference and the relative L2 difference of each
part. Used to check a reproduction (scripts/reproduce_shipped.sh) against the shipped weights.

  python scripts/compare_weights.py A.safetensors B.safetensors [--json]
"""

from __future__ import annotations

import argparse
import json
import sys

import numpy as np
from safetensors.numpy import load_file


def compare(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> dict[str, dict]:
    """Per part (the tensor name's first component): tensors, identical, max |a - b|, ||a - b|| / ||b||; names only
    in one file are listed under ``only_a`` / ``only_b``."""
    parts: dict[str, dict] = {}
    for name in sorted(set(a) & set(b)):
        x, y = a[name].astype(np.float64), b[name].astype(np.float64)
        p = parts.setdefault(name.split(".")[0], {"tensors": 0, "identical": 0, "max_abs": 0.0, "_d2": 0.0, "_n2": 0.0})
        p["tensors"] += 1
        if x.shape != y.shape:
            p["max_abs"] = float("inf")
            continue
        p["identical"] += int(np.array_equal(a[name], b[name]))
        d = np.abs(x - y)
        p["max_abs"] = max(p["max_abs"], float(d.max()) if d.size else 0.0)
        p["_d2"] += float((d ** 2).sum())
        p["_n2"] += float((y ** 2).sum())
    for p in parts.values():
        p["rel_l2"] = (p.pop("_d2") / p.pop("_n2")) ** 0.5 if p["_n2"] else 0.0
    only_a, only_b = sorted(set(a) - set(b)), sorted(set(b) - set(a))
    if only_a or only_b:
        parts["_names"] = {"only_a": only_a, "only_b": only_b}
    return parts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    res = compare(load_file(args.a), load_file(args.b))
    if args.json:
        print(json.dumps(res, indent=1))
        return 0
    print("| part | tensors | bit-identical | max abs diff | relative L2 diff |\n|---|---|---|---|---|")
    for part, p in res.items():
        if part != "_names":
            print(f"| {part} | {p['tensors']} | {p['identical']} | {p['max_abs']:.3g} | {p['rel_l2']:.3g} |")
    if "_names" in res:
        print(f"names in one file only: {res['_names']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
