#!/usr/bin/env python3
"""Where the depth error comes from, on the synthetic validation frames of scripts/validate_gap.py (never the
test split): for each method, each pixel class's share of the pixels, of the squared error (what RMSE sees),
its MAE and its bias (mean signed error: + too far, - too near), and, for methods with a sigma, each class's median
sigma and share of pixels within 2 sigma of the truth, and the AUROC of sigma for flagging wrong raw pixels: all of
them, each wrong class alone against the right ones, and what the whole could reach with every class but glass ranked
perfectly (the AUROC target's bound for a model that cannot see glass). Classes: raw
right; raw valid but > 5 cm wrong, by material (glass, mirror, specular, other); raw missing, beyond 4.5 m (out of
range for Kinect v1), on glass, nearer than every measurement of the frame (mostly below the sensor's minimum
range), other.

``--range-bound`` adds, per method, the RMSE when the depth in raw holes whose truth lies past the frame's
sensor range is lifted to at least that range (a perfect out-of-range detector that knows only the stated range).

It also prints the artifact MAE (raw missing or more than 5 cm off) and what it would be with every wrong raw pixel on
glass and mirrors exact: how far a perfect answer there alone could take the artifact target.

``--oracle`` adds, per method, the RMSE when the wrong raw pixels on glass and mirrors are removed before the
method runs (a perfect detector of those pixels): how much finding them could give at most.

``--test-split DIR`` decomposes the benchmark's synthetic test split instead (the 60 frames `perfecting-depth eval`
scores, rendered into DIR on first use): diagnosis of the reported figures only; nothing is chosen on it.

  python scripts/error_budget.py [WEIGHTS.safetensors ...] [--classical] [--oracle] [--range-bound] [--json OUT]
      [--world-version 2] [--fusion=off|auto|PATH]  (as in validate_gap.py: score checkpoints the shipped hole
                                                     fusion was not fitted on against the shipped model with
                                                     --fusion=off, or "auto" quietly fuses only the shipped one)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from validate_gap import FAR_M, fusion_arg, take_int, val_frames  # noqa: E402  (the same 45 validation frames)

from perfecting_depth_ros.data.world import MIRROR, SPECULAR, TRANSPARENT  # noqa: E402
from perfecting_depth_ros.enhancer import DepthEnhancer  # noqa: E402
from perfecting_depth_ros.evaluate import metrics as M  # noqa: E402


def classes(raw: np.ndarray, gt: np.ndarray, mat: np.ndarray) -> dict[str, np.ndarray]:
    """Disjoint pixel classes of one frame (see the module docstring)."""
    miss = raw <= 0
    wrong = ~miss & (np.abs(raw - gt) > 0.05)
    special = np.isin(mat, (TRANSPARENT, MIRROR, SPECULAR))
    near = raw[~miss].min() if (~miss).any() else 0.0
    return {
        "raw_right": ~miss & ~wrong,
        "wrong_glass": wrong & (mat == TRANSPARENT),
        "wrong_mirror": wrong & (mat == MIRROR),
        "wrong_specular": wrong & (mat == SPECULAR),
        "wrong_other": wrong & ~special,
        "missing_far": miss & (gt > FAR_M),
        "missing_glass": miss & (gt <= FAR_M) & (mat == TRANSPARENT),
        # nearer than every measurement of the frame: mostly below the sensor's minimum range
        "missing_near": miss & (gt <= FAR_M) & (mat != TRANSPARENT) & (gt < near),
        "missing_other": miss & (gt <= FAR_M) & (mat != TRANSPARENT) & (gt >= near),
    }


VALID_CLASSES = ("raw_right", "wrong_glass", "wrong_mirror", "wrong_specular", "wrong_other")


def sigma_aurocs(sigma: dict[str, np.ndarray]) -> dict[str, float]:
    """AUROC of the published sigma for flagging wrong raw pixels: all of them, and each wrong class alone against
    the right ones (which class the ranking misses)."""
    right = sigma["raw_right"]
    wrong = [sigma[k] for k in VALID_CLASSES[1:] if k in sigma]
    n_wrong = sum(w.size for w in wrong)
    res = {"all": M.auroc(np.concatenate([right, *wrong]), np.r_[np.zeros(right.size, bool), np.ones(n_wrong, bool)])}
    for k in VALID_CLASSES[1:]:
        if k in sigma and sigma[k].size:
            res[k] = M.auroc(np.r_[right, sigma[k]], np.r_[np.zeros(right.size, bool), np.ones(sigma[k].size, bool)])
    return res


def auroc_bounds(sigma: dict[str, np.ndarray], per_class: dict[str, float], target: float = 0.9) -> dict[str, float]:
    """What the all-wrong AUROC could reach if every wrong class but glass were ranked above every right pixel and
    glass kept its own AUROC, and the glass AUROC that would then be needed for ``target``. The all-wrong AUROC is
    the per-class AUROCs weighed by each class's share of the wrong pixels (every wrong-right pair is in one
    class), so both are exact."""
    sizes = {k: sigma[k].size for k in VALID_CLASSES[1:] if k in sigma and k in per_class}
    n = sum(sizes.values())
    g = sizes.get("wrong_glass", 0) / max(n, 1)
    glass = per_class.get("wrong_glass", 0.5)
    return {"glass_share_of_wrong": g, "others_perfect": g * glass + (1 - g),
            "glass_needed_for_target": (target - (1 - g)) / g if g > 0 else float("nan")}


def add_frame(acc: dict[str, list], sig: dict[str, list[np.ndarray]], err: np.ndarray,
              cls: dict[str, np.ndarray], sigma: np.ndarray) -> None:
    """Add one frame's error (``err``, prediction - truth, no NaN) to the per-class sums in ``acc`` (pixels, squared,
    absolute and signed error, pixels within 2 sigma) and its ``sigma`` to ``sig``; a sigma of NaN everywhere (the
    classical fills publish none) adds nothing to either."""
    has_sigma = bool(np.isfinite(sigma).any())
    for name, m in cls.items():
        a = acc.setdefault(name, [0, 0.0, 0.0, 0.0, 0])
        e = err[m]
        a[0] += int(m.sum())
        a[1] += float((e ** 2).sum())
        a[2] += float(np.abs(e).sum())
        a[3] += float(e.sum())
        if has_sigma:
            sig.setdefault(name, []).append(sigma[m])
            a[4] += int((np.abs(e) <= 2 * sigma[m]).sum())  # a NaN sigma covers nothing


def class_summary(acc: dict[str, list], sig: dict[str, list[np.ndarray]], n_all: int, sse_all: float) -> dict:
    """Each class's share of the pixels and of the squared error, MAE and bias, and where a sigma was given its
    median and the share of the class's pixels within 2 sigma of the truth (is the 1-sigma honest there)."""
    res = {}
    for name, (n, s2, s1, s0, n_cov) in acc.items():
        r = res[name] = {"pixels": n / n_all, "share_of_squared_error": s2 / max(sse_all, 1e-12),
                         "mae_m": s1 / max(n, 1), "bias_m": s0 / max(n, 1)}
        if name in sig:
            v = np.concatenate(sig[name])
            r["median_sigma_m"] = float(np.nanmedian(v)) if np.isfinite(v).any() else float("nan")
            r["within_2sigma"] = n_cov / max(n, 1)
    return res


def test_frames(test_dir: str, version: int = 1):
    """The benchmark's synthetic test split as (frame, raw, sensor max range), as `perfecting-depth eval` scores it."""
    from perfecting_depth_ros.data.sensors import SENSORS
    from perfecting_depth_ros.evaluate.benchmark import synthetic_split

    for _, sensor, f, raw in synthetic_split(test_dir, 60, version):
        yield f, raw, SENSORS[sensor].max_range_m


def budget(enh: DepthEnhancer, oracle: bool, range_bound: bool = False, version: int = 1,
           test_dir: str | None = None) -> dict:
    n_all, sse_all, sse_oracle, sse_lift, n_out, sse_out = 0, 0.0, 0.0, 0.0, 0, 0.0
    acc: dict[str, list[float]] = {}
    sig: dict[str, list[np.ndarray]] = {}  # the published sigma, by class (the AUROCs, its median, its coverage)
    for f, raw, max_range in (test_frames(test_dir, version) if test_dir else val_frames(version)):
        out = enh.enhance(f.rgb, raw, max_range_m=max_range)
        err = np.nan_to_num(out.depth - f.depth, nan=10.0)  # no value: scored as 10 m off
        n_all += err.size
        sse_all += float((err ** 2).sum())
        cls = classes(raw, f.depth, f.material)
        add_frame(acc, sig, err, cls, out.uncertainty)
        if range_bound:  # a perfect out-of-range detector: holes whose truth is past this sensor's range lifted to it
            out_of_range = (raw <= 0) & (f.depth > max_range)
            lifted = np.where(out_of_range, np.maximum(np.nan_to_num(out.depth, nan=0.0), max_range), out.depth)
            sse_lift += float((np.nan_to_num(lifted - f.depth, nan=10.0) ** 2).sum())
            n_out += int(out_of_range.sum())
            sse_out += float((err[out_of_range] ** 2).sum())
        if oracle:
            hide = cls["wrong_glass"] | cls["wrong_mirror"]
            out2 = enh.enhance(f.rgb, np.where(hide, 0, raw).astype(np.float32), max_range_m=max_range)
            e2 = np.nan_to_num(out2.depth - f.depth, nan=10.0)
            sse_oracle += float((e2 ** 2).sum())
    out = {"rmse_m": float(np.sqrt(sse_all / n_all)), "classes": class_summary(acc, sig, n_all, sse_all)}
    # artifact regions (raw missing or more than 5 cm off): every class but raw_right
    n_art = sum(a[0] for k, a in acc.items() if k != "raw_right")
    abs_art = sum(a[2] for k, a in acc.items() if k != "raw_right")
    abs_gm = sum(acc[k][2] for k in ("wrong_glass", "wrong_mirror") if k in acc)
    out["artifact_mae_m"] = abs_art / max(n_art, 1)
    out["artifact_mae_glass_mirror_exact_m"] = (abs_art - abs_gm) / max(n_art, 1)
    if sig:
        valid_sig = {k: np.concatenate(v) for k, v in sig.items() if k in VALID_CLASSES}
        out["sigma_auroc"] = sigma_aurocs(valid_sig)
        out["sigma_auroc_bounds"] = auroc_bounds(valid_sig, out["sigma_auroc"])
    if oracle:
        out["rmse_glass_mirror_detected_m"] = float(np.sqrt(sse_oracle / n_all))
    if range_bound:
        out["out_of_range_holes"] = {"pixels": n_out / n_all, "share_of_squared_error": sse_out / max(sse_all, 1e-12),
                                     "rmse_lifted_to_range_m": float(np.sqrt(sse_lift / n_all))}
    return out


def main(args: list[str]) -> int:
    oracle = "--oracle" in args
    version, args = take_int(args, "--world-version", 1)
    fusion, args = fusion_arg(args)
    json_out = args[args.index("--json") + 1] if "--json" in args else None
    test_dir = args[args.index("--test-split") + 1] if "--test-split" in args else None
    names = [a for a in args if not a.startswith("--") and a not in (json_out, test_dir)]
    runs = [("learned" if not p else p, DepthEnhancer("learned", weights=p or None, backend="onnxruntime",
                                                      fusion=fusion))
            for p in (names or [""])]
    if "--classical" in args:
        runs += [(m, DepthEnhancer(m)) for m in ("joint_bilateral", "inpaint_ns")]
    results = {}
    for name, enh in runs:
        results[name] = r = budget(enh, oracle, "--range-bound" in args, version, test_dir)
        print(f"{name}: RMSE {r['rmse_m']:.4f} m"
              + (f", with glass/mirror wrong raw detected {r['rmse_glass_mirror_detected_m']:.4f} m" if oracle else ""))
        print(f"  artifact MAE {r['artifact_mae_m']:.4f} m; with every wrong raw pixel on glass and mirrors exact "
              f"{r['artifact_mae_glass_mirror_exact_m']:.4f} m")
        if "out_of_range_holes" in r:
            o = r["out_of_range_holes"]
            print(f"  holes past the sensor's range: pixels {o['pixels']:.1%}, squared error "
                  f"{o['share_of_squared_error']:.1%}; RMSE with them lifted to the range {o['rmse_lifted_to_range_m']:.4f} m")
        if "sigma_auroc" in r:
            print("  sigma AUROC, wrong raw against right: " + ", ".join(f"{k} {v:.4f}" for k, v in r["sigma_auroc"].items()))
            b = r["sigma_auroc_bounds"]
            print(f"  glass is {b['glass_share_of_wrong']:.1%} of the wrong raw pixels: with every other wrong pixel "
                  f"ranked perfectly the AUROC would be {b['others_perfect']:.4f}, and 0.9 would need glass at "
                  f"{b['glass_needed_for_target']:.4f}")
        for c, v in r["classes"].items():
            print(f"  {c:15s} pixels {v['pixels']:6.1%}  squared error {v['share_of_squared_error']:6.1%}  "
                  f"MAE {v['mae_m']:.3f} m  bias {v['bias_m']:+.3f} m"
                  + (f"  median sigma {v['median_sigma_m']:.3f} m  within 2 sigma {v['within_2sigma']:6.1%}"
                     if "within_2sigma" in v else ""))
    if json_out:
        Path(json_out).write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
