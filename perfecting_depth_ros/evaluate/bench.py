"""`perfecting-depth bench`: latency (min / median / p95), CPU time and peak memory per backend and size, beside
the fastest classical baseline in the same run. Each configuration runs in a fresh process so its peak
resident memory is its own."""

from __future__ import annotations

import json
import multiprocessing as mp
import platform
import time
from pathlib import Path

import numpy as np

CLASSICAL = ("ip_basic", "inpaint_ns", "inpaint_telea", "guided_fill")


def _peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _cpu_s() -> float:
    """User + system CPU seconds of this process, all threads."""
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _frame(h: int, w: int):
    from ..data.sensors import simulate
    from ..data.world import render_random

    f = render_random(123, h, w)
    return f.rgb, simulate(f, "kinect_v1", np.random.default_rng(0))


def _run_one(q, method: str, backend: str, size: tuple[int, int], runs: int, samples: int, steps: int, weights,
             fusion: bool = True):
    try:
        from ..enhancer import DepthEnhancer

        rgb, raw = _frame(*size)
        base = _peak_rss_mb()
        enh = DepthEnhancer(method, backend=backend, samples=samples, steps=steps, weights=weights,
                            fusion="auto" if fusion else False) if method == "learned" else DepthEnhancer(method)
        enh.enhance(rgb, raw)  # warm-up (export / engine build / allocations)
        ts, infer, fuse = [], [], []
        cpu0 = _cpu_s()
        for _ in range(runs):
            t = time.perf_counter()
            out = enh.enhance(rgb, raw)
            ts.append((time.perf_counter() - t) * 1e3)
            infer.append(out.timings.get("inference_ms", np.nan))
            fuse.append(out.timings.get("fusion_ms", np.nan))
        cpu_ms = (_cpu_s() - cpu0) / runs * 1e3  # every thread's CPU time: what the frame takes from the machine
        backend = enh.backend_name if method == "learned" else "numpy/opencv"
        if method == "learned" and not fusion:
            method = "learned, hole fusion off"
        q.put({"method": method, "backend": backend,
               "size": f"{size[1]}x{size[0]}", "min_ms": float(np.min(ts)), "median_ms": float(np.median(ts)),
               "p95_ms": float(np.percentile(ts, 95)), "graph_median_ms": float(np.nanmedian(infer)),
               "fusion_median_ms": float(np.nanmedian(fuse)) if np.isfinite(fuse).any() else float("nan"),
               "cpu_ms_per_frame": cpu_ms, "peak_rss_mb": _peak_rss_mb(), "rss_before_mb": base})
    except Exception as e:  # report and go on with the other configurations
        q.put({"method": method, "backend": backend, "size": f"{size[1]}x{size[0]}", "error": f"{type(e).__name__}: {e}"})


def run_config(*args) -> dict:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_run_one, args=(q, *args))
    p.start()
    res = q.get(timeout=1800)
    p.join()
    return res


def run_repeated(repeats: int, *args) -> dict:
    """``run_config`` ``repeats`` times, each in a fresh process: the run with the median of their medians, with
    every run's median in ``medians_ms`` (a noisy machine shows here, not in one run's figure)."""
    rows = [run_config(*args) for _ in range(max(1, repeats))]
    ok = sorted((r for r in rows if "error" not in r), key=lambda r: r["median_ms"])
    if not ok:
        return rows[0]
    return {**ok[(len(ok) - 1) // 2], "medians_ms": [r["median_ms"] for r in ok]}


def _median_cell(r: dict) -> str:
    m = r.get("medians_ms", [])
    return f"{r['median_ms']:.1f}" + (f" ({m[0]:.1f}-{m[-1]:.1f})" if len(m) > 1 else "")


def main(args) -> int:
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    repeats = getattr(args, "repeats", 1)
    rows = []
    for size in sizes:
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            rows.append(run_repeated(repeats, "learned", backend, size, args.runs, args.samples, args.steps,
                                     args.weights))
            print(rows[-1])
            if backend == args.backends.split(",")[0].strip():  # what the hole fusion costs, on the first backend
                rows.append(run_repeated(repeats, "learned", backend, size, args.runs, args.samples, args.steps,
                                         args.weights, False))
                print(rows[-1])
        classical = [run_repeated(repeats, m, "", size, args.runs, 0, 0, None)
                     for m in (args.classical.split(",") if getattr(args, "classical", None) else CLASSICAL)
                     if m.strip()]
        ok = [c for c in classical if "error" not in c]
        if ok:
            fastest = min(ok, key=lambda c: c["median_ms"])
            fastest["method"] = f"{fastest['method']} (fastest classical)"
            rows.append(fastest)
            print(rows[-1])
    hw = f"{platform.machine()}, {__import__('os').cpu_count()} cores"
    rep = (f" Each row: the median of {repeats} runs in fresh processes, their range in brackets."
           if repeats > 1 else "")
    lines = [f"Hardware: {hw}. K={args.samples}, S={args.steps}; end to end through DepthEnhancer (resize, normalise, "
             f"graph, back to camera size); graph = the backend call alone; fusion = the hole fusion "
             f"(hole_fusion.py).{rep}\n",
             "| method | backend | input | min ms | median ms | p95 ms | graph median ms | fusion median ms | CPU ms / frame "
             "| peak RSS MB |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['method']} | {r['backend']} | {r['size']} | error: {r['error'][:80]} | | | | | | |")
        else:
            fz = r.get("fusion_median_ms", float("nan"))
            lines.append(f"| {r['method']} | {r['backend']} | {r['size']} | {r['min_ms']:.1f} | {_median_cell(r)} | "
                         f"{r['p95_ms']:.1f} | {r['graph_median_ms']:.1f} | {'–' if fz != fz else f'{fz:.1f}'} | "
                         f"{r.get('cpu_ms_per_frame', float('nan')):.0f} | {r['peak_rss_mb']:.0f} |")
    table = "\n".join(lines)
    print(table)
    if getattr(args, "readme", None):
        from .benchmark import update_readme_section

        cmd = "perfecting-depth bench --readme README.md" + (f" --repeats {repeats}" if repeats > 1 else "")
        update_readme_section(Path(args.readme), "bench", f"Generated by `{cmd}`.\n\n{table}")
    if args.out:
        Path(args.out).write_text(json.dumps({"rows": rows, "hardware": hw, "python": platform.python_version()}, indent=1)
                                  + "\n")
    return 0
