#!/usr/bin/env python3
"""Frames per second of DepthEnhancer when 1..N threads enhance at once (the node's ``workers``), no ROS in the way.

The graph runs one frame at a time (DepthEnhancer holds a lock around it); the CPU's work around it (resizing, the
hole fusion, the near-hole cap) overlaps. Each thread count is run ``--rounds`` times, alternating, and every frame
is checked against the same frame enhanced alone (fixed noise: identical).

  python scripts/bench_workers.py --size 480x640 --workers 1 2 3
  python scripts/bench_workers.py --real        # the 640x480 frames in ../shared/data/real
  python scripts/bench_workers.py --backend torch --device cuda --workers 1 2 3 4   # a GPU runs the graph
  python scripts/bench_workers.py --real --replay --workers 1 2 3   # the CPU's work alone: the graph's outputs replayed

``--replay`` runs the graph once per frame, then hands its outputs back at once whenever the same inputs come again:
what remains is the CPU's work around the graph (resizing, the hole fusion, the near-hole cap), the bound on the rate
of a robot whose GPU computes the graph in less time than that.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time

import numpy as np

from perfecting_depth_ros import DepthEnhancer
from perfecting_depth_ros.data.sensors import simulate
from perfecting_depth_ros.data.world import render_random


def frames_for(args) -> list[tuple[np.ndarray, np.ndarray]]:
    if args.real:
        from perfecting_depth_ros.data.real import real_frames

        return [(f.rgb, f.depth) for f in real_frames() if f.depth.shape == (480, 640)]
    h, w = (int(v) for v in args.size.split("x"))
    out = []
    for i in range(6):
        f = render_random(300 + i, h, w)
        out.append((f.rgb, simulate(f, ("kinect_v1", "realsense_d435", "azure_kinect")[i % 3], np.random.default_rng(i))))
    return out


class ReplayBackend:
    """A backend's outputs computed once per distinct frame (its normalised depth input) and handed back at once after
    that (``--replay``)."""

    def __init__(self, backend):
        self._backend, self._seen = backend, {}

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def run(self, inputs: dict) -> dict:
        key = hashlib.sha1(np.ascontiguousarray(inputs["depth"]).tobytes()).hexdigest()
        if key not in self._seen:
            self._seen[key] = self._backend.run(inputs)
        return {k: v.copy() for k, v in self._seen[key].items()}


def run(enh: DepthEnhancer, frames, alone, threads: int, total: int) -> tuple[float, bool]:
    """Enhance ``total`` frames with ``threads`` threads taking the next one as they finish: (frames/s, identical)."""
    todo, lock, res = iter(range(total)), threading.Lock(), {}

    def work():
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            res[i] = enh.enhance(*frames[i % len(frames)]).depth

    pool = [threading.Thread(target=work) for _ in range(threads)]
    t = time.perf_counter()
    for p in pool:
        p.start()
    for p in pool:
        p.join()
    dt = time.perf_counter() - t
    same = all(np.array_equal(d, alone[i % len(frames)], equal_nan=True) for i, d in res.items())
    return total / dt, same


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="480x640", help="HxW of the rendered frames")
    p.add_argument("--real", action="store_true", help="the real 640x480 frames of ../shared/data/real instead")
    p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    p.add_argument("--frames", type=int, default=45, help="frames per run")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--no-fusion", action="store_true", help="the hole fusion off")
    p.add_argument("--backend", default="onnxruntime")
    p.add_argument("--device", default="cpu", help="torch backend: cpu or cuda")
    p.add_argument("--replay", action="store_true", help="the graph's outputs replayed: the CPU's work alone")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()
    frames = frames_for(args)
    enh = DepthEnhancer(backend=args.backend, device=args.device, fusion=not args.no_fusion and "auto")
    if args.replay:
        enh.backend = ReplayBackend(enh.backend)
    out = measure(frames, enh, args.workers, args.frames, args.rounds)
    out["size"] = "480x640 real" if args.real else args.size
    out["graph"] = "replayed (the CPU's work alone)" if args.replay else "computed"
    print(json.dumps(out, indent=1))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=1)


def measure(frames, enh: DepthEnhancer, workers, total: int, rounds: int) -> dict:
    """Frames per second for each thread count in ``workers`` (``rounds`` runs each, alternating)."""
    for f in frames[:2]:
        enh.enhance(*f)  # warm-up
    alone = [enh.enhance(*f).depth for f in frames]
    fps: dict[int, list[float]] = {n: [] for n in workers}
    identical = True
    for _ in range(rounds):
        for n in workers:
            r, same = run(enh, frames, alone, n, total)
            fps[n].append(round(r, 2))
            identical &= same
    return {"frames": len(frames), "backend": enh.backend_name, "hole_fusion": enh.fusion is not None,
            "frames_per_s": {str(n): v for n, v in fps.items()}, "identical_to_one_at_a_time": identical}


if __name__ == "__main__":
    main()
