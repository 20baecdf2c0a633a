"""`perfecting-depth eval`: every enhancer through the DepthEnhancer interface, on

1. the fixed, seeded synthetic test split seen through the three simulated sensors (frame i uses
   sensor i mod 3 and noise seed 10_000 + i), scored against the clean depth, overall and by region;
2. the real frames in ../shared/data/real with a masked hold-out (10 % of the valid raw pixels hidden
   in hole-shaped blobs, scored on exactly those).

Writes ``report.md``, ``results.json`` and plots to ``--out``; ``--readme`` refreshes the table
between the benchmark markers of a README.
"""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

import numpy as np

from ..data.real import SENSOR_MAX_RANGE_M, holdout_mask, real_frames
from ..data.sensors import SENSORS, simulate
from . import metrics as M

REGIONS = ("all", "missing", "wrong", "reliable", "artifact")


def _make_enhancer(name: str, weights: str | None):
    from ..enhancer import DepthEnhancer

    if name == "learned":
        return DepthEnhancer("learned", weights=weights, backend="onnxruntime")
    return DepthEnhancer(name)


def synthetic_split(test_dir: str, frames: int, version: int = 1):
    """Yield (index, sensor, frame, raw) for the fixed test split of world ``version`` (rendered on first use;
    shards of another version are an error, not a silent substitute)."""
    from ..data.dataset import frame_at, load_shards, shard_world_version, write_shards

    try:
        arrays = load_shards(test_dir, "test")
    except FileNotFoundError:
        write_shards(test_dir, "test", max(frames, 150), 240, 320, workers=2, version=version)
        arrays = load_shards(test_dir, "test")
    found = shard_world_version(test_dir, "test")
    if found != version:
        raise ValueError(f"{test_dir} holds world version {found}, asked for {version}: pass another --test-dir")
    names = list(SENSORS)
    for i in range(min(frames, len(arrays["depth"]))):
        f = frame_at(arrays, i)
        sensor = names[i % len(names)]
        yield i, sensor, f, simulate(f, sensor, np.random.default_rng(10_000 + i))


def evaluate_synthetic(methods: dict, test_dir: str, frames: int, version: int = 1) -> tuple[dict, dict]:
    """Metrics per method (overall, by region, per sensor, boundaries, uncertainty) and arrays for plots."""
    acc = {m: {"pred": [], "sigma": [], "dbe": [], "ms": []} for m in methods}
    gts, raws, sensors, frame_ids, panels = [], [], [], [], []
    for i, sensor, f, raw in synthetic_split(test_dir, frames, version):
        gts.append(f.depth.ravel())
        raws.append(raw.ravel())
        sensors.append(np.full(f.depth.size, list(SENSORS).index(sensor), np.int8))
        frame_ids.append(np.full(f.depth.size, len(frame_ids), np.int32))
        row = {"_rgb": f.rgb, "_raw": raw, "_gt": f.depth}
        for name, enh in methods.items():
            t = time.perf_counter()
            out = enh.enhance(f.rgb, raw, max_range_m=SENSORS[sensor].max_range_m)
            acc[name]["ms"].append((time.perf_counter() - t) * 1e3)
            acc[name]["pred"].append(out.depth.ravel())
            acc[name]["sigma"].append(out.uncertainty.ravel())
            acc[name]["dbe"].append(M.boundary_errors(out.depth, f.depth))
            row[name] = (out.depth, out.uncertainty)
        if i < 4:
            panels.append(row)
    gt, raw, sensor_id, frame_id = np.concatenate(gts), np.concatenate(raws), np.concatenate(sensors), np.concatenate(frame_ids)
    reg = M.regions(raw, gt)
    results = {}
    for name in methods:
        pred = np.concatenate(acc[name]["pred"])
        sigma = np.concatenate(acc[name]["sigma"])
        r = {"regions": {k: M.depth_errors(pred, gt, reg[k]) for k in REGIONS}}
        r["by_sensor"] = {s: M.depth_errors(pred, gt, reg["all"] & (sensor_id == j))
                          for j, s in enumerate(SENSORS)}
        dbe = [d for d in acc[name]["dbe"] if d]
        r["boundary"] = {k: float(np.mean([d[k] for d in dbe])) for k in ("dbe_acc", "dbe_comp")} if dbe else {}
        keep = reg["reliable"] & np.isfinite(pred)
        r["keep_raw_median_mm"] = float(np.median(np.abs(pred[keep] - raw[keep])) * 1e3) if keep.any() else float("nan")
        r["uncertainty"] = M.uncertainty_metrics(pred, sigma, gt, raw) if np.isfinite(sigma).any() else {}
        r["median_ms"] = float(np.median(acc[name]["ms"]))
        r["per_frame"] = per_frame_sums(pred, gt, reg, frame_id, len(frame_ids))
        results[name] = r
        acc[name]["pred_all"], acc[name]["sigma_all"] = pred, sigma
    return results, {"gt": gt, "raw": raw, "acc": acc, "panels": panels}


def per_frame_sums(pred: np.ndarray, gt: np.ndarray, reg: dict, frame_id: np.ndarray, frames: int) -> dict:
    """Per test frame, the sums behind the pooled RMSE and artifact MAE (over predicted pixels, as ``depth_errors``):
    squared error and pixel count of every pixel with a truth, absolute error and count where raw is missing or
    wrong. ``bootstrap_ratios`` resamples them."""
    ok = np.isfinite(pred) & (pred > 0)
    err = np.where(ok, pred - gt, 0.0)
    out = {}
    for key, region, power in (("all", reg["all"], 2), ("artifact", reg["artifact"], 1)):
        m = region & ok
        out[f"{key}_sum"] = np.bincount(frame_id[m], weights=np.abs(err[m]) ** power, minlength=frames).tolist()
        out[f"{key}_n"] = np.bincount(frame_id[m], minlength=frames).tolist()
    return out


def is_classical(name: str) -> bool:
    """A classical fill: neither the learned model (any variant) nor the raw depth itself."""
    return not name.startswith("learned") and name != "raw"


def bootstrap_ratios(syn: dict, draws: int = 2000, seed: int = 0, learned: str = "learned") -> dict:
    """The learned model's pooled RMSE and artifact MAE over the best classical fill's (the lowest of the classical
    fills on each resample), with the 5-95 % interval of the ratio when the test frames are resampled with replacement
    (the same frames for every method): how far the headline ratios could move on another draw of frames."""
    if learned not in syn or "per_frame" not in syn[learned]:
        return {}
    classical = [n for n in syn if is_classical(n) and "per_frame" in syn[n]]
    if not classical:
        return {}
    frames = len(syn[learned]["per_frame"]["all_n"])
    rng = np.random.default_rng(seed)
    picks = np.vstack([np.arange(frames), rng.integers(0, frames, (draws, frames))])  # [1+draws, frames]; row 0: all
    out = {}
    for metric, key, root in (("rmse", "all", True), ("artifact_mae", "artifact", False)):
        def pooled(name: str) -> np.ndarray:  # [1+draws] the pooled figure on each resample
            pf = syn[name]["per_frame"]
            n = np.asarray(pf[f"{key}_n"], float)[picks].sum(axis=1)
            with np.errstate(invalid="ignore", divide="ignore"):
                v = np.where(n > 0, np.asarray(pf[f"{key}_sum"], float)[picks].sum(axis=1) / n, np.nan)
            return np.sqrt(v) if root else v

        fills = {n: pooled(n) for n in classical}
        ratios = pooled(learned) / np.min(np.stack(list(fills.values())), axis=0)
        out[metric] = {"ratio": float(ratios[0]), "lo": float(np.nanpercentile(ratios[1:], 5)),
                       "hi": float(np.nanpercentile(ratios[1:], 95)),
                       "best": min(fills, key=lambda n: fills[n][0]), "frames": frames, "draws": draws}
    return out


def ratios_line(ratios: dict) -> str:
    """One sentence for the report and the README: the ratios and their intervals."""
    if not ratios:
        return ""
    r = ratios["rmse"]
    parts = [f"{label} {v['ratio']:.2f}x ({v['lo']:.2f}-{v['hi']:.2f})"
             for label, v in (("RMSE", ratios["rmse"]), ("artifact MAE", ratios["artifact_mae"]))]
    return (f"Learned against the best classical fill on each resample of the {r['frames']} test frames ({r['draws']} "
            f"bootstrap draws, 5-95 %): " + ", ".join(parts) + ".")


def holdout_draws(depth: np.ndarray, frame_index: int, draws: int) -> list[np.ndarray]:
    """The hidden-blob masks of one real frame: draw 0 is the benchmark's first (seed 20000 + frame), the others
    add independent draws (seed 20000 + frame + 1000 d), since one draw of blobs leaves a large spread per frame."""
    return [holdout_mask(depth, np.random.default_rng(20_000 + frame_index + 1000 * d)) for d in range(draws)]


def evaluate_real(methods: dict, real_dir: str, draws: int = 1) -> tuple[dict, list]:
    """Masked hold-out MAE/RMSE per real frame and method: ``mae``/``rmse`` of the first blob draw, and with
    ``draws`` > 1 ``mae_draws``, the mean MAE over that many independent draws. Panels show the first draw."""
    results: dict = {}
    panels = []
    for k, fr in enumerate(real_frames(real_dir)):
        row = {}
        for d, hide in enumerate(holdout_draws(fr.depth, k, draws)):
            inp = np.where(hide, 0, fr.depth).astype(np.float32)
            if d == 0:
                row = {"_name": fr.name, "_rgb": fr.rgb, "_raw": fr.depth, "_input": inp}
            for name, enh in methods.items():
                if name == "raw":
                    continue
                r = results.setdefault(fr.name, {}).setdefault(name, {"use": fr.use})
                if "error" in r:
                    continue
                try:
                    out = enh.enhance(fr.rgb, inp, max_range_m=SENSOR_MAX_RANGE_M.get(fr.sensor))
                except ValueError as e:
                    results[fr.name][name] = {"error": str(e), "use": fr.use}
                    continue
                e = M.depth_errors(out.depth, fr.depth, hide)
                if d == 0:
                    r.update({"mae": e.get("mae"), "rmse": e.get("rmse"), "coverage": e.get("coverage")})
                    row[name] = (out.depth, out.uncertainty)
                r.setdefault("_maes", []).append(e.get("mae"))
        for r in results.get(fr.name, {}).values():
            maes = [m for m in r.pop("_maes", []) if m is not None]
            if draws > 1 and maes:
                r["mae_draws"] = float(np.mean(maes))
                r["draws"] = len(maes)
                r["mae_per_draw"] = [float(m) for m in maes] if len(maes) == draws else None
        panels.append(row)
    return results, panels


def _fmt(x, scale=1.0, digits=3):
    return "–" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x * scale:.{digits}f}"


def synthetic_table(res: dict) -> str:
    cols = ["method", "coverage", "RMSE m", "MAE m", "AbsRel", "δ<1.05", "δ<1.25", "MAE missing", "MAE wrong", "MAE artifact",
            "keep raw (median mm)", "DBE acc / comp px", "AUROC raw-wrong", "AUSE (random)", "±1σ / ±2σ", "ms/frame"]
    lines = ["| " + " | ".join(cols) + " |",
             "|" + "---|" * len(cols)]
    for name, r in res.items():
        a, u, b = r["regions"]["all"], r["uncertainty"], r["boundary"]
        lines.append("| " + " | ".join([
            name, _fmt(a.get("coverage"), digits=3),
            _fmt(a.get("rmse")), _fmt(a.get("mae")), _fmt(a.get("absrel")), _fmt(a.get("d105")), _fmt(a.get("d125")),
            _fmt(r["regions"]["missing"].get("mae")), _fmt(r["regions"]["wrong"].get("mae")),
            _fmt(r["regions"]["artifact"].get("mae")), _fmt(r["keep_raw_median_mm"], digits=1),
            f"{_fmt(b.get('dbe_acc'), digits=2)} / {_fmt(b.get('dbe_comp'), digits=2)}" if b else "–",
            _fmt(u.get("auroc_raw_wrong")) if u else "none",
            f"{_fmt(u.get('ause'), digits=4)} ({_fmt(u.get('ause_random'), digits=4)})" if u else "none",
            f"{_fmt(u.get('cov1'), digits=2)} / {_fmt(u.get('cov2'), digits=2)}" if u else "none",
            f"{r['median_ms']:.0f}"]) + " |")
    return "\n".join(lines)


def real_table(res: dict) -> str:
    """Per frame the first draw's hold-out MAE (mm) and, where several draws ran, their mean in brackets; the
    means over every frame, then over the test frames alone (frames no training run saw and no checkpoint choice
    read: the 7-Scenes frames 0-699 were in the self-supervised fine-tune, 700-799 chose checkpoints)."""
    methods = sorted({m for r in res.values() for m in r})
    multi = any("mae_draws" in r.get(m, {}) for r in res.values() for m in methods)

    def cell(v: dict) -> str:
        s = _fmt(v.get("mae"), 1000, 1)
        return f"{s} ({v['mae_draws'] * 1000:.1f})" if multi and v.get("mae_draws") is not None else s

    def use(r: dict) -> str:
        return next((v.get("use", "test") for v in r.values()), "test")

    lines = ["| frame | " + " | ".join(methods) + " |", "|---|" + "---|" * len(methods)]
    for fname, r in res.items():
        tag = "" if use(r) == "test" else f" ({use(r)})"
        lines.append(f"| {fname}{tag} | " + " | ".join(cell(r.get(m, {})) for m in methods) + " |")

    def mean(m: str, key: str, rows) -> float:
        return float(np.nanmean([r[m][key] for r in rows if m in r and r[m].get(key) is not None]))

    n = max((r[m].get("draws", 0) for r in res.values() for m in r), default=0)
    test = [r for r in res.values() if use(r) == "test"]
    blocks = [("", list(res.values()))] + ([(f", {len(test)} test frames", test)] if 0 < len(test) < len(res) else [])
    for label, rows in blocks:
        lines.append(f"| **mean{label}** | " + " | ".join(f"**{mean(m, 'mae', rows) * 1000:.1f}**" for m in methods) + " |")
        if multi:
            lines.append(f"| **mean of {n} draws{label}** | " + " | ".join(
                f"**{mean(m, 'mae_draws', rows) * 1000:.1f}**" for m in methods) + " |")
    rows, label = (test, "test frames") if test else (list(res.values()), "frames")
    paired = " ".join(x for x in (paired_draws(rows, label), paired_frames(rows, label)) if x)
    return "\n".join(lines) + (f"\n\n{paired}" if paired else "")


def paired_frames(rows: list[dict], label: str = "frames", method: str = "learned", draws: int = 2000,
                  seed: int = 0) -> str:
    """``method`` against each other method, frame by frame: the difference of their mean MAE over ``rows`` (each frame
    the mean of its blob draws), with its 5-95 % interval when the frames are resampled with replacement, and in how
    many frames ``method`` is lower: whether the lead holds across frames, not only across draws of blobs."""
    def mae(v: dict) -> float | None:
        return v.get("mae_draws", v.get("mae"))

    if len(rows) < 2 or any(mae(r.get(method, {})) is None for r in rows):
        return ""
    mine = np.array([mae(r[method]) for r in rows])
    picks = np.random.default_rng(seed).integers(0, len(rows), (draws, len(rows)))
    parts = []
    for other in sorted({m for r in rows for m in r} - {method}):
        if any(mae(r.get(other, {})) is None for r in rows):
            continue
        d = (mine - np.array([mae(r[other]) for r in rows])) * 1000
        lo, hi = np.percentile(d[picks].mean(axis=1), [5, 95])
        parts.append(f"{other} {d.mean():+.1f} mm ({lo:+.1f} to {hi:+.1f}), lower in {int((d < 0).sum())} of {len(d)}")
    return (f"Frame by frame ({len(rows)} {label}, each the mean of its draws), {method} minus: " + "; ".join(parts)
            + f" (5-95 % over {draws} resamples of the frames).") if parts else ""


def paired_draws(rows: list[dict], label: str = "frames", method: str = "learned") -> str:
    """``method`` against each other method, draw by draw (the same hidden blobs): the per-draw difference of the
    mean MAE over ``rows``, its mean and standard error over the draws, and in how many draws ``method`` is lower.
    Empty without per-draw figures for every row."""
    if not rows or any(method not in r or not r[method].get("mae_per_draw") for r in rows):
        return ""
    mine = np.mean([r[method]["mae_per_draw"] for r in rows], axis=0)
    parts = []
    for other in sorted({m for r in rows for m in r} - {method}):
        if any(not r.get(other, {}).get("mae_per_draw") for r in rows):
            continue
        d = (mine - np.mean([r[other]["mae_per_draw"] for r in rows], axis=0)) * 1000
        se = d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else float("nan")
        parts.append(f"{other} {d.mean():+.1f} ± {se:.1f} mm, lower in {int((d < 0).sum())} of {len(d)}")
    return (f"Draw by draw ({len(rows)} {label}, the same hidden blobs for every method), {method} minus: "
            + "; ".join(parts) + " (mean ± standard error over the draws).") if parts else ""


def seven_table(res: dict) -> str:
    lines = ["| method | MAE m | RMSE m | MAE raw-missing | MAE raw-wrong | MAE reliable | AUROC raw-wrong | ±2σ | flicker mm |",
             "|---|---|---|---|---|---|---|---|---|"]
    for name, r in res.items():
        u = r.get("uncertainty") or {}
        lines.append(f"| {name} | {_fmt(r['all'].get('mae'))} | {_fmt(r['all'].get('rmse'))} | {_fmt(r['missing'].get('mae'))} | "
                     f"{_fmt(r['wrong'].get('mae'))} | {_fmt(r['reliable'].get('mae'))} | "
                     f"{_fmt(u.get('auroc_raw_wrong')) if u else 'none'} | {_fmt(u.get('cov2'), digits=2) if u else 'none'} | "
                     f"{r['flicker_mm']:.1f} |")
    return "\n".join(lines)


def write_plots(out: Path, res: dict, arrays: dict, real_panels: list) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    gt = arrays["gt"]
    bins = np.arange(0, 8.5, 0.5)
    fig, ax = plt.subplots(figsize=(7, 4))
    for name, a in arrays["acc"].items():
        err = np.abs(a["pred_all"] - gt)
        idx = np.digitize(gt, bins)
        ys = [np.nanmean(err[idx == k]) if np.any(idx == k) else np.nan for k in range(1, len(bins))]
        ax.plot(bins[:-1] + 0.25, ys, marker="o", ms=3, label=name)
    ax.set(xlabel="true depth (m)", ylabel="MAE (m)", yscale="log", title="Error versus range (synthetic test split)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "error_vs_range.png", dpi=110)
    files.append("error_vs_range.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, a in arrays["acc"].items():
        s = a["sigma_all"]
        ok = np.isfinite(s) & np.isfinite(a["pred_all"])
        if ok.sum() < 100:
            continue
        sp = M.sparsification(a["pred_all"][ok] - gt[ok], s[ok])
        ax.plot(sp["fractions"], sp["curve"], label=f"{name} (AUSE {sp['ause']:.4f})")
        ax.plot(sp["fractions"], sp["oracle"], "--", lw=0.8, label=f"{name} oracle")
    ax.set(xlabel="fraction of pixels removed (most uncertain first)", ylabel="MAE of the rest (m)", title="Sparsification")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "sparsification.png", dpi=110)
    files.append("sparsification.png")
    plt.close(fig)

    def panel(rows, fname, title, score_key):
        show = [m for m in ("learned", "guided_fill", "ip_basic") if m in rows[0]]
        ncol = 3 + 2 * ("learned" in show) + len(show) - ("learned" in show)
        fig, axes = plt.subplots(len(rows), ncol, figsize=(2.4 * ncol, 2.0 * len(rows)), squeeze=False)
        for r, row in enumerate(rows):
            ref = row[score_key]
            vmax = float(np.nanpercentile(np.where(ref > 0, ref, np.nan), 98))
            inp = row.get("_input", row["_raw"])
            cols = [("RGB", row["_rgb"], None), ("raw input", np.where(inp > 0, inp, np.nan), "turbo")]
            cols.append(("reference" if score_key == "_gt" else "raw (full)", np.where(ref > 0, ref, np.nan), "turbo"))
            for m in show:
                d, s = row[m]
                cols.append((m, d, "turbo"))
                if m == "learned":
                    cols.append(("learned 1σ", s, "magma"))
            for c, (t, img, cmap) in enumerate(cols):
                axc = axes[r, c]
                if cmap is None:
                    axc.imshow(img)
                elif cmap == "magma":
                    axc.imshow(img, cmap=cmap, vmin=0, vmax=max(0.05, float(np.nanpercentile(img, 95))))
                else:
                    axc.imshow(img, cmap=cmap, vmin=0, vmax=vmax)
                axc.set_title(t, fontsize=7)
                axc.axis("off")
        fig.suptitle(title, fontsize=9)
        fig.tight_layout()
        fig.savefig(out / fname, dpi=90)
        plt.close(fig)
        files.append(fname)

    panel(arrays["panels"], "panels_synthetic.png", "Synthetic test frames (sensor-simulated raw depth)", "_gt")
    if real_panels:
        panel(real_panels[:6], "panels_real.png", "Real frames (10 % of valid raw hidden in blobs)", "_raw")
    return files


def main(args) -> int:
    import os

    import cv2

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    threads = int(os.environ.get("PERFECTING_DEPTH_THREADS", "0"))
    if threads:
        cv2.setNumThreads(threads)
    methods = {}
    for name in [m.strip() for m in args.methods.split(",") if m.strip()]:
        try:
            methods[name] = _make_enhancer(name, args.weights)
        except Exception as e:  # e.g. learned weights not trained yet: say so and go on
            print(f"skipping {name}: {e}")
    print(f"methods: {', '.join(methods)}")
    version = getattr(args, "world_version", 1)
    syn, arrays = evaluate_synthetic(methods, args.test_dir, args.frames, version)
    only_syn = getattr(args, "synthetic_only", False)
    real, real_panels = ({}, []) if only_syn else evaluate_real(methods, args.real_dir, getattr(args, "real_draws", 1))
    seven = None
    ref_dir = Path(getattr(args, "ref_dir", "") or "data_cache/7scenes_ref")
    if only_syn:
        print("--synthetic-only: real frames and the 7-Scenes block left out")
    elif (ref_dir / "quality.json").exists():
        from .reference import evaluate_sevenscenes, misregistration_effect

        seven = evaluate_sevenscenes({k: v for k, v in methods.items() if k != "colorization"}, ref_dir)
        if "learned" in methods:
            seven["learned"]["misregistration_mae_holes_m"] = misregistration_effect(methods["learned"], ref_dir)
    else:
        print(f"no 7-Scenes reference in {ref_dir}: run `perfecting-depth reference` to add the real split")
    files = write_plots(out, syn, arrays, real_panels)
    ratios = ratios_line(bootstrap_ratios(syn))
    hw = f"{platform.processor() or platform.machine()}, {__import__('os').cpu_count()} cores, Python {platform.python_version()}"
    draws = getattr(args, "real_draws", 1)
    draws_note = "" if draws <= 1 else f"; first draw, and in brackets the mean of {draws} draws"
    report = [f"# Benchmark report\n\nHardware: {hw}. Synthetic: {args.frames} frames of the seeded test split at 240x320 "
              f"(world version {version}), "
              f"sensors {', '.join(SENSORS)} in turn. Real: masked hold-out (10 % of valid raw pixels in blobs"
              f"{draws_note}).\n",
              "## Synthetic test split\n", synthetic_table(syn), "\n\n" + ratios,
              "\nMAE by sensor (m):\n",
              "| method | " + " | ".join(SENSORS) + " |", "|---|" + "---|" * len(SENSORS)]
    for name, r in syn.items():
        report.append(f"| {name} | " + " | ".join(_fmt(r["by_sensor"][s].get("mae")) for s in SENSORS) + " |")
    report += ["\n## Real frames: masked hold-out MAE (mm)\n", real_table(real) if real else "(no real data found)", ""]
    if seven:
        report += ["\n## 7-Scenes test block (frames 800-999, every 10th) against the fused TSDF reference\n",
                   seven_table(seven), ""]
        mis = seven.get("learned", {}).get("misregistration_mae_holes_m")
        if mis:
            report += ["Learned model, MAE in raw holes (m) with the RGB shifted by dx,dy px on top of the sequence's own "
                       "offset: " + ", ".join(f"({k}): {v:.4f}" for k, v in mis.items()), ""]
    report += [f"![{f}]({f})" for f in files]
    (out / "report.md").write_text("\n".join(report) + "\n")
    (out / "results.json").write_text(json.dumps({"synthetic": syn, "real": real, "sevenscenes": seven, "hardware": hw,
                                                  "world_version": version},
                                                 indent=1, default=float))
    print("\n".join(report[:3]))
    if getattr(args, "readme", None):
        update_readme(Path(args.readme), synthetic_table(syn), real_table(real) if real else "", hw, args.frames,
                      seven_table(seven) if seven else "", ratios)
    print(f"wrote {out / 'report.md'}")
    return 0


def update_readme_section(readme: Path, name: str, body: str) -> None:
    """Replace the text between ``<!-- name:start -->`` and ``<!-- name:end -->`` in a README."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = readme.read_text()
    if start not in text or end not in text:
        raise ValueError(f"{readme} has no {start} ... {end} section")
    readme.write_text(text[: text.index(start)] + f"{start}\n{body}\n{end}" + text[text.index(end) + len(end):])


def update_readme(readme: Path, syn_table: str, real_tab: str, hw: str, frames: int, seven: str = "",
                  ratios: str = "") -> None:
    body = (f"Generated by `perfecting-depth eval --readme README.md` on {hw}; synthetic test split, "
            f"{frames} frames at 240x320, three simulated sensors. Coverage: the share of pixels with a "
            f"ground truth that the method predicts; errors are over the predicted pixels.\n\n{syn_table}\n\n"
            + (f"{ratios}\n\n" if ratios else "") +
            f"Real frames, masked hold-out MAE (mm; 10 % of valid raw pixels hidden in blobs; where several "
            f"independent blob draws ran, their mean in brackets and in the mean rows; \"(train)\": a 7-Scenes frame "
            f"the self-supervised fine-tune trained on, \"(val)\": one from the block that chose checkpoints; the "
            f"\"test frames\" rows leave both out):\n\n{real_tab}\n")
    if seven:
        body += f"\n7-Scenes test block against the fused TSDF reference:\n\n{seven}\n"
    update_readme_section(readme, "benchmark", body)
