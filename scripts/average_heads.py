#!/usr/bin/env python3
"""Average the raw-error heads of checkpoints that differ only in that head (a "model soup" of fine-tunes from one
start); every other tensor must be identical, so depth is unchanged by construction.

  python scripts/average_heads.py OUT.safetensors A.safetensors B.safetensors [...]

Eleventh session: errorhead_mixed_long step 3000 (seed 53) and errorhead_mixed_trade step 1500 (seed 59), both
fine-tuned from the shipped model with real reference labels, each lifting the real gap-frame AUROC by 0.03-0.04 and
each failing its rule on one synthetic figure. Rule, written before the average was scored: errorhead_mixed_trade's
(validation AUROC at most 0.004 below the shipped model's on each world, >= 0.7717 / 0.7823; real gap-frame AUROC
>= 0.7460; Laplace NLL not above the shipped model's as this session's enhancer measures it, -1.0322 / -0.9796; AUSE
at most 0.001 above 0.0281 / 0.0307; +-2 sigma within 90-97 % on both worlds). If it qualifies it is shipped.

Outcome (outputs/validate_session11_soup.jsonl): validation AUROC 0.7740 (world v1) / 0.7856 (v2), real gap-frame AUROC
0.7536, Laplace NLL -1.0387 / -0.9926 (better than either parent and than the shipped model), AUSE 0.0282 / 0.0305,
+-2 sigma 95.0 / 94.0 %: it qualifies on every condition and is shipped (runs/head_soup/mixed_53_59.safetensors).

Thirteenth session: the average of errorhead_hb300_long step 3000 (seed 83) and errorhead_hb300_trade step 1500
(seed 89), both heads fitted on top of stage2_hole_bias's step-300 refiner (runs/head_soup/hb300_83_89.safetensors).
Rule, written before either run started; the baseline is the shipped model scored the same way with this code
(outputs/validate_session12_base.jsonl and outputs/validate_session12_fresh.jsonl). It is shipped only if, on the
usual validation data (validate_gap.py --blob-seed 36000, world v1 and --world-version 2) AND on the fresh data
(--fresh --blob-seed 38000, both worlds), each of these holds:
  - real gap-frame AUROC at least 0.010 above the baseline's,
  - synthetic validation AUROC at most 0.002 below the baseline's on each world,
  - full validation RMSE at most 0.001 m above the baseline's on each world,
  - validation Laplace NLL at most 0.005 above the baseline's on each world,
  - gap-block blob MAE and gap-block hold-out MAE at most 1 % above the baseline's,
  - +-2 sigma coverage within 90-97 % on each world.
It is the only candidate (no single head, no other snapshot). Test figures are scored only after the decision.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file


def main(args: list[str]) -> int:
    out, srcs = args[0], args[1:]
    if len(srcs) < 2:
        raise SystemExit("usage: average_heads.py OUT A B [...]")
    states = [load_file(s) for s in srcs]
    if any(set(s) != set(states[0]) for s in states):
        raise SystemExit("the checkpoints hold different tensors")
    merged = {}
    for k, v in states[0].items():
        if k.startswith("error_head."):
            merged[k] = np.mean([s[k].astype(np.float64) for s in states], axis=0).astype(v.dtype)
        elif all(np.array_equal(v, s[k]) for s in states[1:]):
            merged[k] = v
        else:
            raise SystemExit(f"{k} differs between the checkpoints: only the error head may")
    with safe_open(srcs[0], "np") as f:
        meta = dict(f.metadata())
    m = json.loads(meta.get("meta", "{}"))
    meta["meta"] = json.dumps({**m, "stage": "errorhead", "averaged_from": srcs})
    save_file(merged, out, metadata=meta)
    print(f"wrote {out}: error head averaged over {len(srcs)} checkpoints")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
