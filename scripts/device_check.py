#!/usr/bin/env python3
"""The checks a session lent a GPU runs in one short call (scripts/device_check.sh wraps it; results in --out).

1. The environment: torch, CUDA, the GPU.
2. Inference: the shipped model through the torch backend on ``--device`` against ONNX Runtime on the CPU, on
   synthetic frames at 240x320 and 480x640 (hole fusion off: it is numpy/OpenCV on the CPU either way): the largest
   and median difference of the enhanced depth and sigma, and the median latency of the graph and of the whole
   frame over ``--runs`` runs; on CUDA again with cuDNN's TF32 convolutions off (``tf32_off``); and what the
   enhancer's own check against ONNX Runtime on the CPU found (``verification``, ``verify_backend``).
3. Frames per second with the hole fusion on (the product's path: the graph on ``--device``, the work around it on
   the CPU) at 480x640 when 1-4 threads enhance at once, as the node's ``workers`` do (scripts/bench_workers.py).
4. Training: ``--steps`` steps of stage 1 and of stage 2 (warm-started from the shipped weights) on ``--device``
   through the accelerate loop, on frames rendered where it runs: seconds per step, and that the loss is finite
   (``--steps 0``: left out, as scripts/device_session.sh does before it trains for real).

  python scripts/device_check.py --device cuda --out $OUT       (on the GPU machine, through device_check.sh)
  python scripts/device_check.py --device cpu --steps 4 --runs 3 --out outputs/device_check   (here: the same path)
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def environment() -> dict:
    import torch

    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.cuda.is_available()}
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
    try:
        import onnxruntime as ort

        env["onnxruntime"] = f"{ort.__version__} {ort.get_available_providers()}"
    except ImportError:
        env["onnxruntime"] = "missing"
    return env


def inference(device: str, runs: int) -> dict:
    from perfecting_depth_ros.data.sensors import simulate
    from perfecting_depth_ros.data.world import render_random
    from perfecting_depth_ros.enhancer import DepthEnhancer

    frames = {}
    for h, w in ((240, 320), (480, 640)):
        f = render_random(901, h, w)
        frames[f"{w}x{h}"] = (f.rgb, simulate(f, "kinect_v1", np.random.default_rng(0)))
    ref = DepthEnhancer(backend="onnxruntime", fusion=False)
    refs = {k: ref.enhance(rgb, raw) for k, (rgb, raw) in frames.items()}

    def against_reference(dev: DepthEnhancer, label: str) -> dict:
        res = {}
        for k, (rgb, raw) in frames.items():
            a, b = refs[k], dev.enhance(rgb, raw)
            dd, ds = np.abs(a.depth - b.depth), np.abs(a.uncertainty - b.uncertainty)
            times = [dev.enhance(rgb, raw).timings for _ in range(runs)]
            res[k] = {"depth_max_diff_m": float(np.nanmax(dd)), "depth_median_diff_m": float(np.nanmedian(dd)),
                      "depth_p99_9_diff_m": float(np.nanpercentile(dd, 99.9)), "sigma_max_diff_m": float(np.nanmax(ds)),
                      "graph_ms": float(np.median([t["inference_ms"] for t in times])),
                      "total_ms": float(np.median([t["total_ms"] for t in times]))}
            print(f"inference {label} {k}: {res[k]}", flush=True)
        # the enhancer's own check against ONNX Runtime on the CPU (verify_backend): on a GPU the first measurement of
        # its bounds on real GPU arithmetic; a failed check would have put the graph on the CPU, timings included
        res["verification"] = dev.verification
        res["backend_after_check"] = dev.backend_name
        print(f"inference {label} check: {dev.verification}", flush=True)
        return res

    dev = DepthEnhancer(backend="torch", device=device, fusion=False)
    out = {"backend": dev.backend_name, "reference": ref.backend_name, **against_reference(dev, "")}
    if device.startswith("cuda"):  # the same with cuDNN's TF32 convolutions off (probe_fp16.py --tf32 emulates them)
        import torch

        torch.backends.cudnn.allow_tf32 = False
        try:
            out["tf32_off"] = against_reference(DepthEnhancer(backend="torch", device=device, fusion=False), "tf32 off")
        finally:
            torch.backends.cudnn.allow_tf32 = True
    return out


def workers(device: str) -> dict:
    """scripts/bench_workers.py's measurement on rendered 480x640 frames, the graph on ``device``."""
    from bench_workers import measure

    from perfecting_depth_ros.data.sensors import simulate
    from perfecting_depth_ros.data.world import render_random
    from perfecting_depth_ros.enhancer import DepthEnhancer

    frames = []
    for i in range(6):
        f = render_random(300 + i, 480, 640)
        frames.append((f.rgb, simulate(f, "kinect_v1", np.random.default_rng(i))))
    out = measure(frames, DepthEnhancer(backend="torch", device=device), [1, 2, 3, 4], 24, 1)
    print(f"workers 480x640: {out}", flush=True)
    return out


def training(device: str, steps: int, work: Path) -> dict:
    from perfecting_depth_ros.data.dataset import write_shards
    from perfecting_depth_ros.enhancer import DEFAULT_WEIGHTS
    from perfecting_depth_ros.train.common import TrainConfig
    from perfecting_depth_ros.train.loop import train

    t = time.perf_counter()
    write_shards(work / "data", "train", 64, 128, 160, crop_of=(240, 320), shard_size=64, workers=4, progress=False)
    out = {"render_64_frames_s": round(time.perf_counter() - t, 1)}
    runs = {"stage1": dict(stage="stage1", config="stage1.yaml"),
            "stage2": dict(stage="stage2", config="stage2.yaml", init=str(DEFAULT_WEIGHTS))}
    for name, r in runs.items():
        cfg = TrainConfig.from_yaml(ROOT / "config" / "train" / r["config"], stage=r["stage"], steps=steps,
                                    data_dir=str(work / "data"), out_dir=str(work / name), init=r.get("init"),
                                    device=device, log_every=1, ckpt_every=steps)
        t = time.perf_counter()
        train(cfg)
        wall = time.perf_counter() - t
        losses = [json.loads(line)["loss"] for line in (work / name / "log.jsonl").read_text().splitlines()]
        out[name] = {"steps": steps, "batch_size": cfg.batch_size, "s_per_step": round(wall / steps, 4),
                     "first_loss": losses[0], "last_loss": losses[-1], "finite": bool(np.all(np.isfinite(losses)))}
        print(f"training {name}: {out[name]}", flush=True)
    return out


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--out", default="outputs/device_check")
    ap.add_argument("--steps", type=int, default=200, help="training steps to check (0: no training check)")
    ap.add_argument("--runs", type=int, default=20)
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    report = {"environment": environment()}
    print(report, flush=True)
    if a.device == "cuda" and not report["environment"]["cuda"]:
        print("torch sees no GPU", file=sys.stderr)
        return 2
    report["inference"] = inference(a.device, a.runs)
    report["workers"] = workers(a.device)
    if a.steps > 0:  # 0: no training check (device_session.sh trains for real right after)
        with tempfile.TemporaryDirectory() as work:
            report["training"] = training(a.device, a.steps, Path(work))
    (out / "device_check.json").write_text(json.dumps(report, indent=1))
    print(f"wrote {out / 'device_check.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
