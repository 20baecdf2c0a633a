#!/usr/bin/env python3
"""Apply config/train/fusion_scale.yaml's rule (a)-(d) to two candidates' scripts/validate_gap.py results.

The rule ships a candidate refiner with its own hole fusion only if, against the shipped weights and fusion scored
the same way (the same sets, noise seeds and blob seed), on both synthetic worlds:
  (a) the validation RMSE is lower, and the artifact MAE not higher by more than 0.5 %;
  (b) the gap-block hold-out MAE and the blob MAE are not higher by more than 2 %;
  (c) the real gap AUROC is higher by at least 0.010 (``--real-auroc-change D``: by at least D; a negative D allows
      it to fall by at most -D), and the synthetic AUROC not lower by more than 0.002;
  (d) the +-2 sigma coverage lies in 90-97 %, and the boundary accuracy is not worse by more than 0.05 px.
The real figures (b, c) come from world v1's rows (validate_gap scores the same real frames in both worlds' runs).

  python scripts/rule_scale.py [--real-auroc-change D] SHIPPED_V1.jsonl SHIPPED_V2.jsonl CANDIDATE_V1.jsonl CANDIDATE_V2.jsonl

The issue's targets are the synthetic figures and the real fill, so a rule written for a run that aims at those
(synthetic frames only) may ask the real AUROC only not to fall (stage2_scale5_cpu.yaml: D = -0.005). The rule written
in a candidate's config before training is the one applied.

Each file holds one validate_gap.py row (the last line is read); rows scored on other sets, draws or blobs, or given
in another order of worlds, are refused. Prints every condition with both figures and exits 0 when all hold, 1 when
one fails.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def last_row(path: str) -> dict:
    """The last JSON line of a validate_gap.py output file."""
    lines = [x for x in Path(path).read_text().splitlines() if x.strip()]
    if not lines:
        raise SystemExit(f"{path}: no result row")
    return json.loads(lines[-1])


def conditions(s1: dict, s2: dict, c1: dict, c2: dict,
               real_auroc_change: float = 0.010) -> list[tuple[str, str, float, float, bool]]:
    """(condition, figure, shipped, candidate, holds) for every check of the rule; the real gap AUROC must change by
    at least ``real_auroc_change``."""
    out = []
    for world, s, c in (("v1", s1, c1), ("v2", s2, c2)):
        out.append(("a", f"val_rmse_m {world}", s["val_rmse_m"], c["val_rmse_m"], c["val_rmse_m"] < s["val_rmse_m"]))
        out.append(("a", f"val_mae_artifact_m {world}", s["val_mae_artifact_m"], c["val_mae_artifact_m"],
                    c["val_mae_artifact_m"] <= 1.005 * s["val_mae_artifact_m"]))
        out.append(("c", f"val_auroc {world}", s["val_auroc"], c["val_auroc"], c["val_auroc"] >= s["val_auroc"] - 0.002))
        out.append(("d", f"val_cov2 {world}", s["val_cov2"], c["val_cov2"], 0.90 <= c["val_cov2"] <= 0.97))
        out.append(("d", f"val_dbe_acc_px {world}", s["val_dbe_acc_px"], c["val_dbe_acc_px"],
                    c["val_dbe_acc_px"] <= s["val_dbe_acc_px"] + 0.05))
    for key in ("gap_holdout_mae_m", "blob_mae_m"):
        out.append(("b", key, s1[key], c1[key], c1[key] <= 1.02 * s1[key]))
    out.append(("c", "gap_ref_auroc", s1["gap_ref_auroc"], c1["gap_ref_auroc"],
                c1["gap_ref_auroc"] >= s1["gap_ref_auroc"] + real_auroc_change))
    return out


def main(args: list[str]) -> int:
    change = 0.010
    if args[:1] == ["--real-auroc-change"] and len(args) > 1:
        change, args = float(args[1]), args[2:]
    if len(args) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    rows = [last_row(p) for p in args]
    for name in ("sets", "noise_seeds", "blob_seed"):
        seen = {json.dumps(r.get(name)) for r in rows}
        if len(seen) != 1:
            raise SystemExit(f"the four rows were not scored alike: {name} {sorted(seen)}")
    worlds = [r.get("world_version", 1) for r in rows]
    if worlds != [1, 2, 1, 2]:
        raise SystemExit(f"expected the rows of worlds 1, 2, 1, 2 (shipped v1, v2, candidate v1, v2), got {worlds}")
    checks = conditions(*rows, real_auroc_change=change)
    print(f"rule: real gap AUROC change >= {change:+.3f}")
    for cond, figure, s, c, ok in checks:
        rel = f"{100 * (c - s) / abs(s):+.2f} %" if s else ""
        print(f"({cond}) {figure:26s} shipped {s:.4f}  candidate {c:.4f}  {rel:>9s}  {'holds' if ok else 'FAILS'}")
    met = all(ok for *_, ok in checks)
    print(json.dumps({"rule_met": met, "failed": sorted({f"({c}) {f}" for c, f, *_, ok in checks if not ok})}))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
