#!/usr/bin/env python3
"""Node benchmarks that print figures (not timed tests).

  overhead: per-frame cost of the node's own work at 640x480 (message -> numpy, outputs -> messages,
            cloud packing), with no enhancer in the loop.
  stream:   the real node in its own process fed over loopback DDS at --rate Hz for --duration s;
            latency p50/p95/max per time window (growth under overload shows here), output rate,
            dropped sets, and the node's resident memory over time (growth after warm-up, and the largest per
            window: a plateau is the allocator settling, a steady rise a leak).

  python scripts/bench_node.py overhead
  python scripts/bench_node.py stream --rate 30 --duration 30 --method raw          # node + DDS only
  python scripts/bench_node.py stream --rate 30 --duration 30 --method learned      # ~2-3x overload
  python scripts/bench_node.py stream --rate 60 --duration 600 --method learned     # the soak
  python scripts/bench_node.py stream --rate 15 --duration 30 --method learned --workers 2
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def overhead(args) -> dict:
    from perfecting_depth_ros.data.sensors import simulate
    from perfecting_depth_ros.data.world import render_random
    from perfecting_depth_ros.enhancer import EnhancedDepth
    from perfecting_depth_ros.node.convert import camera_info_to_K, image_to_depth, image_to_rgb, output_messages
    from perfecting_depth_ros.node.harness import make_header, make_image, make_info

    f = render_random(5, 480, 640)
    raw = simulate(f, "kinect_v1", np.random.default_rng(0))
    h = make_header(1, "cam")
    rgb_msg = make_image(f.rgb[..., ::-1].copy(), "bgr8", h)
    depth_msg = make_image(np.round(raw * 1000).astype(np.uint16), "16UC1", h)
    info = make_info(f.K, 480, 640, h)
    res = EnhancedDepth(f.depth, np.full_like(f.depth, 0.01), "x", "x")
    t_in, t_out = [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        depth, _ = image_to_depth(depth_msg)
        rgb = image_to_rgb(rgb_msg)
        K = camera_info_to_K(info, depth.shape)
        t1 = time.perf_counter()
        output_messages(res, rgb, K, info, h, 0.0, True)
        t2 = time.perf_counter()
        t_in.append((t1 - t0) * 1e3)
        t_out.append((t2 - t1) * 1e3)
    tot = np.array(t_in) + np.array(t_out)
    out = {"size": "640x480", "inputs_ms_median": float(np.median(t_in)), "outputs_ms_median": float(np.median(t_out)),
           "total_ms_median": float(np.median(tot)), "total_ms_p95": float(np.percentile(tot, 95))}
    print(json.dumps(out, indent=1))
    return out


def _rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def stream(args) -> dict:
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from perfecting_depth_ros.data.sensors import simulate
    from perfecting_depth_ros.data.world import render_random
    from perfecting_depth_ros.node.harness import Collector, Player, finish, handshake, spin_until, start_node

    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    h, w = (int(v) for v in args.size.split("x"))
    frames = []
    for i in range(4):
        f = render_random(60 + i, h, w)
        frames.append((f, simulate(f, "kinect_v1", np.random.default_rng(i))))
    rclpy.init()
    proc = start_node(ROOT / "config" / "enhancer.yaml", "/camera", params={"method": args.method, "workers": args.workers},
                      log_path="/tmp/bench_node.log")
    player, coll = Player("/camera"), Collector("/camera")
    ex = SingleThreadedExecutor()
    ex.add_node(player)
    ex.add_node(coll)
    sent: dict[int, float] = {}
    rss = []
    try:
        f0, r0 = frames[0]
        if not handshake(ex, player, coll, f0.rgb, r0, f0.K, timeout=180):
            raise SystemExit("node did not answer")
        period = 1.0 / args.rate
        t0 = time.monotonic()
        i = 0
        while time.monotonic() - t0 < args.duration:
            f, raw = frames[i % len(frames)]
            stamp = 10_000_000_000 + i * int(period * 1e9)
            sent[stamp] = time.monotonic()
            player.publish(f.rgb, raw, f.K, stamp)
            i += 1
            if i % max(1, int(args.rate)) == 0:
                rss.append((time.monotonic() - t0, _rss_mb(proc.pid)))
                with coll.lock:  # keep the collector's memory flat on long runs
                    for k in coll.msgs:
                        if k != "depth":
                            coll.msgs[k].clear()
                    coll.diagnostics[:] = coll.diagnostics[-5:]
            spin_until(ex, lambda: False, max(0.0, t0 + i * period - time.monotonic()))
        spin_until(ex, lambda: False, 2.0)
        diag = coll.last_diag_values()
    finally:
        finish(proc, ex, player, coll)
    got = sorted(s for s in coll.recv_time if s in sent)
    lat = np.array([(coll.recv_time[s] - sent[s]) * 1e3 for s in got])
    when = np.array([sent[s] - sent[min(sent)] for s in got])
    windows = []
    edges = np.linspace(0, args.duration, 6)
    for a, b in zip(edges[:-1], edges[1:]):
        sel = (when >= a) & (when < b)
        if sel.any():
            in_window = [m for t, m in rss if a <= t < b]
            windows.append({"from_s": round(float(a)), "p50_ms": round(float(np.median(lat[sel])), 1),
                            "p95_ms": round(float(np.percentile(lat[sel], 95)), 1),
                            "rss_max_mb": round(max(in_window), 1) if in_window else None})
    warm = [m for t, m in rss if t > min(30.0, args.duration / 3)]
    out = {
        "method": diag.get("method", args.method), "size": args.size, "input_rate_hz": args.rate,
        "duration_s": args.duration, "sent": len(sent), "received": len(got),
        "output_rate_hz": round(len(got) / args.duration, 2),
        "latency_ms": {"p50": round(float(np.median(lat)), 1), "p95": round(float(np.percentile(lat, 95)), 1),
                       "max": round(float(lat.max()), 1)} if lat.size else {},
        "latency_windows": windows,
        "workers": args.workers,
        "dropped_sets (node diagnostics)": diag.get("dropped_sets"),
        "superseded (node diagnostics)": diag.get("superseded"),
        "rss_mb": {"after_warmup": round(warm[0], 1), "end": round(warm[-1], 1),
                   "growth_pct": round(100 * (warm[-1] - warm[0]) / warm[0], 2),
                   # one sample swings by the frame in hand (tens of MB at 640x480): the windows' largest compare
                   "window_max_growth_pct": round(100 * (windows[-1]["rss_max_mb"] - windows[0]["rss_max_mb"])
                                                  / windows[0]["rss_max_mb"], 2)
                   if len(windows) >= 2 and windows[0]["rss_max_mb"] and windows[-1]["rss_max_mb"] else None}
                  if len(warm) >= 2 else {},
    }
    print(json.dumps(out, indent=1))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("overhead")
    o.add_argument("--runs", type=int, default=100)
    s = sub.add_parser("stream")
    s.add_argument("--rate", type=float, default=30)
    s.add_argument("--duration", type=float, default=30)
    s.add_argument("--method", default="raw")
    s.add_argument("--size", default="480x640")
    s.add_argument("--workers", type=int, default=1, help="the node's workers parameter (frame sets at once)")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()
    res = overhead(args) if args.cmd == "overhead" else stream(args)
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
